import { describe, expect, it } from 'vitest';
import { DB_ROLE_SECRETS } from '../services-chart.js';
import { DbRolesJob, type DbRolesJobProps } from './db-roles-job.js';
import { synthConstruct } from './test-app.test-support.js';

/** The services chart's Secrets, and the audit role named. */
const both: Pick<DbRolesJobProps, 'gateway' | 'audit'> = {
  gateway: DB_ROLE_SECRETS.gateway,
  audit: { ...DB_ROLE_SECRETS.audit, role: 'audit_writer' },
};

function synth(props: Partial<DbRolesJobProps> = both) {
  return synthConstruct(DbRolesJob, 'roles', {
    namespace: 'novapos',
    image: 'ghcr.io/novapos/db-roles:0.1.0',
    ...props,
  });
}

describe('DbRolesJob construct', () => {
  const [job] = synth();
  const pod = job.spec.template.spec;
  const c = pod.containers[0];

  it('is one Job, retried with backoff and bounded in time, that goes away a day after it finished', () => {
    expect(job.kind).toBe('Job');
    expect(job.metadata.name).toMatch(/^novapos-db-roles-[0-9a-f]{8}$/);
    expect(job.spec).toMatchObject({
      backoffLimit: 6,
      activeDeadlineSeconds: 1800,
      ttlSecondsAfterFinished: 86400,
    });
    expect(pod.restartPolicy).toBe('OnFailure');
  });

  it('takes the admin connections from Secret references and the passwords from mounted Secrets, never values', () => {
    const env = Object.fromEntries(
      c.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [
        e.name,
        e.value ?? e.valueFrom,
      ]),
    );
    expect(env).toEqual({
      DATABASE_ADMIN_URL: { secretKeyRef: { name: 'novapos-db-admin', key: 'DATABASE_ADMIN_URL' } },
      GATEWAY_DB_PASSWORD_FILE: '/var/run/secrets/novapos/gateway-password/password',
      AUDIT_DATABASE_ADMIN_URL: {
        secretKeyRef: { name: 'audit-service-database', key: 'DATABASE_ADMIN_URL' },
      },
      AUDIT_DB_ROLE: 'audit_writer',
      AUDIT_DB_PASSWORD_FILE: '/var/run/secrets/novapos/audit-password/password',
      DB_ROLES_WAIT_SECONDS: '300',
    });
    expect(pod.volumes).toEqual([
      {
        name: 'gateway-password',
        secret: {
          secretName: 'integration-gateway-db-role',
          items: [{ key: 'GATEWAY_DB_PASSWORD', path: 'password' }],
        },
      },
      {
        name: 'audit-password',
        secret: {
          secretName: 'audit-service-db-role',
          items: [{ key: 'AUDIT_DB_PASSWORD', path: 'password' }],
        },
      },
    ]);
  });

  it('runs hardened, without the API server token', () => {
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources.limits).toBeDefined();
  });

  it('gets a new name when its spec changes (a Job template cannot be updated), the same name otherwise', () => {
    expect(synth()[0].metadata.name).toBe(job.metadata.name);
    expect(synth({ ...both, waitSeconds: 60 })[0].metadata.name).not.toBe(job.metadata.name);
  });

  it('bootstraps only the roles it is given, and refuses to have none', () => {
    const [only] = synth({ audit: both.audit });
    expect(only.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name)).not.toContain(
      'DATABASE_ADMIN_URL',
    );
    expect(() => synth({})).toThrow(/gateway, audit, or both/);
  });
});
