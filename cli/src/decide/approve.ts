import { Annotations } from '../../../operator/src/api/meta.js';
import type { SecretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { CliError, ExitCode } from '../errors.js';

export type ApproveDecision =
  | { readonly action: 'approve'; readonly hash: string }
  | { readonly action: 'already'; readonly message: string };

/**
 * What `approve` does. The hash approved is always the current plan's, read from status; a hash the user
 * names must be that one (a stale hash is refused: the plan it named is not what would be applied).
 */
export function approveDecision(sp: SecretPromotion, hash: string | undefined): ApproveDecision {
  const ref = `spromo/${sp.metadata.name}`;
  const plan = sp.status?.plan;
  if (!plan)
    throw new CliError(
      `${ref} has no plan yet`,
      ExitCode.refused,
      `wait for the operator to plan it: kubectl novapos status ${ref}`,
    );
  if (hash !== undefined && hash !== plan.hash)
    throw new CliError(
      `plan ${hash} is not the current plan of ${ref} (the current plan is ${plan.hash})`,
      ExitCode.refused,
      `review it with kubectl novapos plan ${ref}, then approve without --hash or with --hash ${plan.hash}`,
    );
  if (sp.status?.approval?.planHash === plan.hash)
    return {
      action: 'already',
      message: `plan ${plan.hash} is already approved by ${sp.status.approval.approvedBy ?? 'unknown'}`,
    };
  if (sp.metadata.annotations?.[Annotations.approvePlan] === plan.hash)
    return {
      action: 'already',
      message: `plan ${plan.hash} is already approved by ${sp.metadata.annotations[Annotations.approvedBy] ?? 'unknown'}; the operator is applying it`,
    };
  return { action: 'approve', hash: plan.hash };
}

/**
 * The patch that approves: the annotation names the hash, and the resourceVersion makes the apiserver refuse
 * the write if the object changed since it was read (a plan replaced in between is never approved blind).
 */
export function approvePatch(sp: SecretPromotion, hash: string): Record<string, unknown> {
  return {
    metadata: {
      resourceVersion: sp.metadata.resourceVersion,
      annotations: { [Annotations.approvePlan]: hash },
    },
  };
}
