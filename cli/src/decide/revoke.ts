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

/** Done when the operator handled the request and the key is out of the JWKS (revoked or gone). */
export function revokeProgress(skr: SigningKeyRotation, kid: string): Progress {
  const st = skr.status ?? {};
  const key = st.keys?.find((k) => k.kid === kid);
  if (st.lastHandled?.revokeKid === kid || key?.state === 'revoked' || !key) {
    if (!key || key.state === 'revoked')
      return { done: true, line: `${kid} is revoked and out of the JWKS; active key ${st.activeKid ?? '-'}` };
  }
  return { done: false, line: `waiting for the operator to revoke ${kid} (now ${key?.state ?? 'unknown'})` };
}
