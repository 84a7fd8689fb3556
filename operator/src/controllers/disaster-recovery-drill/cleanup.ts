import { describeError } from '../../../../lib/errors.js';
import type { Logger } from '../../../../lib/log.js';
import type { DrillAdapters, SyntheticSession } from '../../adapters/drill/ports.js';
import {
  AUDIT_ADMIN_TOKEN_KEY,
  type DisasterRecoveryDrillSpec,
  type DrillRun,
  isSyntheticTenant,
} from '../../api/v1alpha1/disasterrecoverydrill.js';
import { apiKeyNamePrefix } from './desired.js';

export interface CleanupInput {
  readonly namespace: string;
  readonly drillName: string;
  readonly run: DrillRun;
  readonly spec: DisasterRecoveryDrillSpec;
  /** The run's own session when it is still at hand; otherwise cleanup signs in again. */
  readonly session?: SyntheticSession;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/**
 * Puts back everything a run may have changed, whether it finished, failed, was aborted or was interrupted
 * by a restart: the fault key, a paused audit consumer, the synthetic alert, the synthetic API keys and sessions, the synthetic
 * TenantRateLimit, a shortened lead time. Every action is idempotent and attempted even when an earlier
 * one failed. Returns what could not be undone (empty when all is clean); never throws.
 */
export async function cleanupRun(adapters: DrillAdapters, input: CleanupInput): Promise<string[]> {
  const { namespace, drillName, run, spec, log } = input;
  const problems: string[] = [];
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (err) {
      const message = describeError(err);
      log.warn({ runId: run.id, what, err: message }, 'drill cleanup action failed');
      problems.push(`${what}: ${message}`);
    }
  };
  const tenant = run.touched?.tenant;
  // The first thing put back: real Redis behaviour for the synthetic tenant.
  if (isSyntheticTenant(tenant)) await attempt('remove the fault key', () => adapters.faults.clear(tenant));
  if (spec.steps.alertDelivery || run.steps.some((s) => s.name === 'alertDelivery')) {
    await attempt('resolve the synthetic alert', () =>
      adapters.alerts.resolve({ drillNamespace: namespace, drillName, runId: run.id, endsAt: new Date() }),
    );
  }
  // A run interrupted while its auditCatchUp step ran (operator restart, drill deleted): resume the
  // audit-service's consumer now rather than when its pause ends by itself.
  const audit = adapters.audit;
  const catchUp = spec.steps.auditCatchUp;
  if (audit && catchUp && run.steps.some((s) => s.name === 'auditCatchUp' && s.result === 'Running')) {
    await attempt("resume the audit-service's consumer", async () => {
      const ref = catchUp.adminTokenSecretRef;
      const secrets = adapters.secrets;
      if (!secrets) throw new Error('no Secret reader');
      await audit.resume(
        await secrets.read(namespace, ref.name, ref.key ?? AUDIT_ADMIN_TOKEN_KEY),
        input.signal,
      );
    });
  }
  if (run.touched?.signingKeyRotation) {
    const ref = run.touched.signingKeyRotation;
    await attempt(`restore the lead time of SigningKeyRotation ${ref}`, () =>
      adapters.rotation.restoreLeadTime(namespace, ref),
    );
  }
  const synthetic = spec.syntheticTenant;
  if (isSyntheticTenant(tenant) && synthetic) {
    await attempt('revoke the synthetic API keys and sessions', async () => {
      let session = input.session;
      if (!session) {
        const creds = await adapters.credentials.read(namespace, synthetic.credentialsSecretRef.name);
        session = await adapters.tenants.signIn(tenant, creds, input.signal);
      }
      const prefix = apiKeyNamePrefix(drillName);
      for (const key of await session.listApiKeys()) {
        if (key.name.startsWith(prefix)) await session.revokeApiKey(key.id);
      }
      await session.logoutAll();
    });
  }
  if (run.touched?.tenantRateLimit) {
    const name = run.touched.tenantRateLimit;
    await attempt(`delete TenantRateLimit ${name}`, () =>
      adapters.rateLimits.deleteIfOwned(namespace, name, drillName),
    );
  }
  return problems;
}
