import { Annotations } from '../../../operator/src/api/meta.js';
import type { SigningKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { CliError, ExitCode } from '../errors.js';
import type { Progress } from './trigger.js';

export type RevokeDecision =
  | { readonly action: 'revoke'; readonly activeKey: boolean; readonly prompt: string }
  | { readonly action: 'already'; readonly message: string };

/**
 * Whether `kid` may be revoked. The active key only with --emergency: revoking it makes the operator sign
 * with a brand-new key at once, and every token the active key signed stops verifying.
 */
export function revokeDecision(skr: SigningKeyRotation, kid: string, emergency: boolean): RevokeDecision {
  const st = skr.status ?? {};
  const key = st.keys?.find((k) => k.kid === kid);
  const ref = `skr/${skr.metadata.name}`;
  if (!key)
    throw new CliError(
      `${kid} is not a key of ${ref}`,
      ExitCode.refused,
      `its keys: ${(st.keys ?? []).map((k) => `${k.kid} (${k.state})`).join(', ') || 'none'}`,
    );
  if (key.state === 'revoked') return { action: 'already', message: `${kid} is already revoked` };
  const active = kid === st.activeKid || key.state === 'active';
  if (active && !emergency)
    throw new CliError(
      `${kid} is the active signing key of ${ref}: revoking it starts an emergency rotation and every token it signed stops verifying`,
      ExitCode.refused,
      'add --emergency if that is what you want',
    );
  if (skr.metadata.annotations?.[Annotations.revokeKid] === kid && st.lastHandled?.revokeKid !== kid)
    return { action: 'already', message: `revoking ${kid} was already requested; the operator is on it` };
  return {
    action: 'revoke',
    activeKey: active,
    prompt: active
      ? `Revoke ${kid}, the ACTIVE key of ${ref}? A new key signs at once and tokens signed by ${kid} stop verifying.`
      : `Revoke ${kid} (${key.state}) of ${ref}? Tokens it signed stop verifying.`,
  };
}

export function revokeAnnotations(kid: string): Record<string, string> {
  return { [Annotations.revokeKid]: kid };
}

/** What one replica of a service said about its key set (GET /keys/status: the kids it serves). */
export interface JwksProbe {
  readonly service: string;
  readonly replica: string;
  readonly kids?: readonly string[];
  readonly error?: string;
}

/** Whether the operator has taken `kid` out of the key set (revoked, or gone from status). */
export function revokedByOperator(skr: SigningKeyRotation, kid: string): boolean {
  const key = skr.status?.keys?.find((k) => k.kid === kid);
  return !key || key.state === 'revoked';
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Done when the operator revoked the key and no replica of any service in spec.services still serves it
 * (each replica's /keys/status, read by the plugin). `probes` is undefined when spec.services names none.
 */
export function revokeProgress(
  skr: SigningKeyRotation,
  kid: string,
  probes?: readonly JwksProbe[],
): Progress {
  const st = skr.status ?? {};
  if (!revokedByOperator(skr, kid)) {
    const key = st.keys?.find((k) => k.kid === kid);
    return {
      done: false,
      line: `waiting for the operator to revoke ${kid} (now ${key?.state ?? 'unknown'})`,
    };
  }
  const active = `active key ${st.activeKid ?? '-'}`;
  if (!probes)
    return {
      done: true,
      line: `${kid} is revoked and out of the JWKS (the key set in Vault); spec.services names no service to check; ${active}`,
    };
  const serving = probes.filter((p) => !p.error && p.kids?.includes(kid));
  const unread = probes.filter((p) => p.error);
  if (!serving.length && !unread.length) {
    const services = [...new Set(probes.map((p) => p.service))].map(
      (s) => `${s} (${plural(probes.filter((p) => p.service === s).length, 'replica')})`,
    );
    return {
      done: true,
      line: `${kid} is revoked and out of the JWKS of ${services.join(', ') || 'every service (none has a ready replica)'}; ${active}`,
    };
  }
  const parts = [
    ...(serving.length
      ? [`still in the JWKS of ${serving.map((p) => `${p.service} ${p.replica}`).join(', ')}`]
      : []),
    ...unread.map((p) => `cannot read ${p.service} ${p.replica}: ${p.error}`),
  ];
  return { done: false, line: `${kid} revoked by the operator; ${parts.join('; ')}` };
}
