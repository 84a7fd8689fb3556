import { Annotations } from '../../../operator/src/api/meta.js';
import type { SecretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { CliError, ExitCode } from '../errors.js';
import type { Progress } from './trigger.js';

/** A rollback restores the target versions from before the last promotion; without one there is nothing to do. */
export function rollbackDecision(sp: SecretPromotion): { prompt: string } {
  const last = sp.status?.lastPromotion;
  if (!last) throw new CliError(`spromo/${sp.metadata.name} has no promotion to roll back`, ExitCode.refused);
  return {
    prompt: `Roll back spromo/${sp.metadata.name}: restore ${last.writes
      .map((w) => `${w.target} ${w.path} to v${w.previousVersion}`)
      .join(', ')}?`,
  };
}

export function rollbackAnnotations(value: string): Record<string, string> {
  return { [Annotations.rollback]: value };
}

/**
 * How far a rollback request has come. The operator answers it with a `rollback-…` plan that restores the
 * versions from before the last promotion; with spec.requireApproval that plan waits for an approval like
 * any other, so --wait ends when it is ready to approve (or, without approval, when it was applied).
 */
export function rollbackProgress(sp: SecretPromotion, value: string, requestedAt: Date): Progress {
  const st = sp.status ?? {};
  const ref = `spromo/${sp.metadata.name}`;
  if (st.lastHandled?.rollback !== value)
    return { done: false, line: `waiting for the operator to take rollback=${value}` };
  const entry = st.history?.find(
    (h) => h.action === 'rollback' && Date.parse(h.at) >= requestedAt.getTime() - 1000,
  );
  if (entry)
    return {
      done: true,
      failed: entry.result !== 'Succeeded',
      line: `rollback ${entry.result}${entry.message ? `: ${entry.message}` : ''}`,
    };
  const plan = st.plan;
  if (plan?.hash.startsWith('rollback-') && sp.spec.requireApproval && st.approval?.planHash !== plan.hash)
    return {
      done: true,
      line: `rollback plan ${plan.hash} is ready: review and approve it with kubectl novapos approve ${ref}`,
    };
  return { done: false, line: 'operator took the request; making and applying the rollback plan' };
}
