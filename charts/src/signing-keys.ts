/**
 * Where auth-service's signing keys live: the one place that names them. `examples/signingkeyrotation.yaml`
 * creates this SigningKeyRotation and `operator/vault-policies/auth-service.hcl` grants auth-service read on
 * its key tree; `signing-keys.test.ts` holds both to what is written here.
 */

/** `<namespace>/<name>` of the SigningKeyRotation auth-service signs with unless the chart is told otherwise. */
export const AUTH_SIGNING_KEY_ROTATION = 'novapos/auth';

/** A SigningKeyRotation's key tree in Vault KV v2 (docs/contracts.md, "Signing keys"), as auth-service reads it. */
export function signingKeyTree(rotation: string, mount = 'secret'): string {
  return `${mount}/novapos/signing-keys/${rotation}`;
}

/** The Vault policy path that grants read on that key tree (KV v2 puts `data/` after the mount). */
export function signingKeyPolicyPath(rotation: string, mount = 'secret'): string {
  return `${mount}/data/novapos/signing-keys/${rotation}/*`;
}
