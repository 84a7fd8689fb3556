import { crdName, customResourceDefinition } from '../../../operator/src/api/crd.js';
import { GROUP, VERSION } from '../../../operator/src/api/meta.js';
import { KINDS } from '../../../operator/src/api/v1alpha1/index.js';
import {
  type CheckResult,
  canonical,
  type LeaseView,
  leaderCheck,
  rbacCheck,
  renderChecks,
  VERB_NEEDS,
} from '../decide/check.js';
import { CliError, ExitCode } from '../errors.js';
import type { Session } from '../session.js';

export interface CheckOptions {
  readonly operatorNamespace?: string;
  readonly leaseName?: string;
}

/** The admission policies (operator/admission/) that stamp and guard approvals. */
export const ADMISSION_POLICIES = [
  { kind: 'mutatingadmissionpolicies', name: 'secretpromotion-approved-by.security.novapos.io' },
  { kind: 'validatingadmissionpolicies', name: 'secretpromotion-approvers-only.security.novapos.io' },
] as const;

/** Reads `path`; undefined when absent, the string 'forbidden' when the user may not read it. */
async function tryGet<T>(session: Session, path: string): Promise<T | undefined | 'forbidden'> {
  try {
    return await session.client.get<T>(path);
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.notFound) return undefined;
    if (err instanceof CliError && err.exitCode === ExitCode.forbidden) return 'forbidden';
    throw err;
  }
}

async function crdChecks(session: Session): Promise<CheckResult[]> {
  const discovery = await tryGet<{ resources: { name: string }[] }>(session, `/apis/${GROUP}/${VERSION}`);
  const served = new Set(
    discovery && discovery !== 'forbidden' ? discovery.resources.map((r) => r.name) : [],
  );
  const out: CheckResult[] = [];
  for (const def of KINDS) {
    const name = `CRD ${crdName(def)}`;
    if (!served.has(def.plural)) {
      out.push({
        name,
        state: 'fail',
        detail: `${GROUP}/${VERSION} ${def.plural} is not served: install crds/`,
      });
      continue;
    }
    type Crd = { spec: { versions: { name: string; schema?: { openAPIV3Schema?: unknown } }[] } };
    const crd = await tryGet<Crd>(
      session,
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName(def)}`,
    );
    if (!crd || crd === 'forbidden') {
      out.push({
        name,
        state: 'ok',
        detail: `${VERSION} served (schema not compared: you may not read CRDs)`,
      });
      continue;
    }
    const expected = customResourceDefinition(def) as unknown as Crd;
    const installed = crd.spec.versions.find((v) => v.name === VERSION)?.schema?.openAPIV3Schema;
    const same = canonical(installed) === canonical(expected.spec.versions[0]?.schema?.openAPIV3Schema);
    out.push(
      same
        ? { name, state: 'ok', detail: `${VERSION} served, schema matches this plugin` }
        : {
            name,
            state: 'warn',
            detail: `${VERSION} served, but its schema differs from this plugin's: upgrade the CRDs or the plugin`,
          },
    );
  }
  return out;
}

async function operatorCheck(session: Session, opts: CheckOptions): Promise<CheckResult> {
  const ns = opts.operatorNamespace ?? 'novapos-system';
  const lease = opts.leaseName ?? 'novapos-operator';
  const where = `${ns}/${lease}`;
  const got = await tryGet<LeaseView>(
    session,
    `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/leases/${encodeURIComponent(lease)}`,
  );
  if (got === 'forbidden')
    return { name: 'operator is leading', state: 'warn', detail: `you may not read the lease ${where}` };
  return leaderCheck(got, where, session.io.now());
}

async function admissionChecks(session: Session): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const p of ADMISSION_POLICIES) {
    const base = `/apis/admissionregistration.k8s.io/v1/${p.kind}`;
    const name = `admission ${p.name}`;
    const policy = await tryGet<{ status?: { typeChecking?: { expressionWarnings?: unknown[] } } }>(
      session,
      `${base}/${p.name}`,
    );
    const binding = await tryGet<unknown>(
      session,
      `${base.replace(/policies$/, 'policybindings')}/${p.name}`,
    );
    if (policy === 'forbidden' || binding === 'forbidden')
      out.push({ name, state: 'warn', detail: 'you may not read admission policies' });
    else if (!policy || !binding)
      out.push({
        name,
        state: 'fail',
        detail: `${!policy ? 'policy' : 'binding'} missing: approvals are not stamped or guarded; apply operator/admission/`,
      });
    else if (policy.status?.typeChecking?.expressionWarnings?.length)
      out.push({ name, state: 'warn', detail: 'active, with type-checking warnings' });
    else out.push({ name, state: 'ok', detail: 'policy and binding active' });
  }
  return out;
}

async function rbacChecks(session: Session): Promise<CheckResult[]> {
  const ns = session.namespace;
  return Promise.all(
    VERB_NEEDS.map(async (need) => {
      const review = await session.client.request<{ status?: { allowed?: boolean } }>(
        'POST',
        '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              group: need.group ?? GROUP,
              resource: need.resource,
              ...(need.subresource ? { subresource: need.subresource } : {}),
              verb: need.access,
              namespace: ns,
            },
          },
        },
      );
      return rbacCheck(need, !!review.status?.allowed, ns);
    }),
  );
}

export async function check(session: Session, opts: CheckOptions): Promise<void> {
  const results = [
    ...(await crdChecks(session)),
    await operatorCheck(session, opts),
    ...(await admissionChecks(session)),
    ...(await rbacChecks(session)),
  ];
  session.emit({ checks: results }, () => renderChecks(results, session.style));
  if (results.some((r) => r.state === 'fail'))
    throw new CliError(
      `${results.filter((r) => r.state === 'fail').length} check(s) failed`,
      ExitCode.error,
      'see the table above',
    );
}
