import type { SecretPromotion } from '../../api/v1alpha1/secretpromotion.js';
import type { PromotionPolicy } from '../../connections-file.js';

/**
 * The promotion policy of the operator's connections file, applied to one SecretPromotion before anything
 * is read or written: which connection may be a source (spec.source, an override's valueFrom on another
 * connection), which a target, from which namespaces; protected targets always need an approved plan.
 * Pure: the object and the policies in, a decision out.
 */

/** The policy of each configured connection by name (undefined: configured, but no promotion may use it). */
export type PromotionPolicies = ReadonlyMap<string, PromotionPolicy | undefined>;

export type PolicyDecision =
  | { readonly allowed: true; readonly protectedTargets: readonly string[] }
  /** `rule` is the setting of the connections file that refuses it, e.g. `connections.prod.promotion.target`. */
  | { readonly allowed: false; readonly rule: string; readonly message: string };

type Use = 'source' | 'target';

function refusal(
  policies: PromotionPolicies,
  namespace: string,
  connection: string,
  use: Use,
  what: string,
): { rule: string; message: string } | undefined {
  const base = `connections.${connection}.promotion`;
  if (!policies.has(connection))
    return {
      rule: `connections.${connection}`,
      message: `${what} uses Vault connection "${connection}", which is not configured (known: ${[...policies.keys()].join(', ') || 'none'}): add it to the operator's connections file`,
    };
  const policy = policies.get(connection);
  if (!policy)
    return {
      rule: base,
      message: `${what} uses Vault connection "${connection}", which has no promotion policy in the operator's connections file, so no promotion may use it`,
    };
  if (!policy[use])
    return {
      rule: `${base}.${use}`,
      message: `${what} uses Vault connection "${connection}" as a ${use}, which its promotion policy does not allow`,
    };
  if (!policy.namespaces.includes(namespace))
    return {
      rule: `${base}.namespaces`,
      message: `${what}: SecretPromotions in namespace ${namespace} may not use Vault connection "${connection}" (allowed namespaces: ${policy.namespaces.join(', ')})`,
    };
  return undefined;
}

/** Whether the promotion policy allows `p`, and which of its targets are protected. */
export function checkPromotionPolicy(p: SecretPromotion, policies: PromotionPolicies): PolicyDecision {
  const namespace = p.metadata.namespace ?? '';
  const uses: [connection: string, use: Use, what: string][] = [
    [p.spec.source.connection, 'source', 'spec.source'],
  ];
  p.spec.targets.forEach((t, i) => {
    uses.push([t.connection, 'target', `spec.targets[${i}] (${t.name})`]);
    (t.overrides ?? []).forEach((o, j) => {
      const from = o.valueFrom.connection ?? t.connection;
      // An override read from the target's own Vault goes back where it came from; from any other Vault
      // it is a read of that Vault like a source.
      if (from !== t.connection)
        uses.push([from, 'source', `spec.targets[${i}].overrides[${j}].valueFrom (${o.key})`]);
    });
  });
  for (const [connection, use, what] of uses) {
    const refused = refusal(policies, namespace, connection, use, what);
    if (refused) return { allowed: false, ...refused };
  }
  const protectedTargets = p.spec.targets
    .filter((t) => policies.get(t.connection)?.protected)
    .map((t) => t.name);
  return { allowed: true, protectedTargets };
}

/**
 * The object the controller acts on: with a protected target, `spec.requireApproval` counts as true
 * whatever the resource says (the written object is never changed).
 */
export function withPolicyApproval(p: SecretPromotion, decision: PolicyDecision): SecretPromotion {
  if (!decision.allowed || !decision.protectedTargets.length || p.spec.requireApproval) return p;
  return { ...p, spec: { ...p.spec, requireApproval: true } };
}
