import type { VaultClient } from '../../../../lib/vault.js';
import { CipherUnavailable, type MfaSecretCipher, type SecretOwner } from '../domain/ports.js';

/**
 * TOTP secrets at rest, encrypted with Vault's transit engine (OpenBao has it): the plaintext never reaches
 * the database, and the key never leaves Vault. The key is derived (`derived: true`) with the context
 * `<tenant>:<user>`: a key per tenant and user, so a ciphertext copied to another user's row does not
 * decrypt. The stored value `vault:v<N>:...` names the key version, so rotating the key
 * (`transit/keys/<key>/rotate`) keeps every row readable, and `rewrap` moves rows to the newest version
 * without the plaintext leaving Vault. Decrypted only to verify a code.
 *
 * The domain's MfaSecretCipher (domain/ports.ts) is encrypt and decrypt; the sealing of stored rows
 * (mfa-secrets.ts) also rewraps.
 */
export interface RewrappingCipher extends MfaSecretCipher {
  /** A stored value re-encrypted under the newest key version (plaintext stays in Vault). */
  rewrap(stored: string, owner: SecretOwner): Promise<string>;
}

export const isEncrypted = (stored: string): boolean => stored.startsWith('vault:v');

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export class TransitCipher implements RewrappingCipher {
  private token: string | undefined;

  constructor(
    private readonly vault: VaultClient,
    private readonly opts: { mount: string; key: string; namespace?: string; timeoutMs?: number },
  ) {}

  private async call(op: 'encrypt' | 'decrypt' | 'rewrap', body: Record<string, unknown>) {
    const url = `${this.vault.addr.replace(/\/+$/, '')}/v1/${this.opts.mount}/${op}/${this.opts.key}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      this.token ??= await this.vault.login().catch(() => {
        throw new CipherUnavailable('login_failed');
      });
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-vault-token': this.token,
            ...(this.opts.namespace ? { 'x-vault-namespace': this.opts.namespace } : {}),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 2000),
        });
      } catch {
        throw new CipherUnavailable('unreachable');
      }
      if (res.status === 403 && attempt === 0) {
        this.token = undefined; // an expired Kubernetes-auth token: log in once more
        continue;
      }
      // The status only: Vault's error text can quote the input.
      if (!res.ok) throw new CipherUnavailable(`http_${res.status}`);
      return ((await res.json()) as { data: Record<string, string> }).data;
    }
    throw new CipherUnavailable('forbidden');
  }

  private context(owner: SecretOwner): string {
    return b64(`${owner.tenantId}:${owner.userId}`);
  }

  async encrypt(plaintext: string, owner: SecretOwner): Promise<string> {
    const data = await this.call('encrypt', { plaintext: b64(plaintext), context: this.context(owner) });
    if (!data['ciphertext']) throw new CipherUnavailable('invalid_response');
    return data['ciphertext'];
  }

  async decrypt(stored: string, owner: SecretOwner): Promise<string> {
    if (!isEncrypted(stored)) return stored; // written before encryption (migrated at start)
    const data = await this.call('decrypt', { ciphertext: stored, context: this.context(owner) });
    if (data['plaintext'] === undefined) throw new CipherUnavailable('invalid_response');
    return Buffer.from(data['plaintext'], 'base64').toString('utf8');
  }

  async rewrap(stored: string, owner: SecretOwner): Promise<string> {
    if (!isEncrypted(stored)) return this.encrypt(stored, owner);
    const data = await this.call('rewrap', { ciphertext: stored, context: this.context(owner) });
    if (!data['ciphertext']) throw new CipherUnavailable('invalid_response');
    return data['ciphertext'];
  }
}

/** Vault's transit key for MFA secrets, as an operator (or the test setup) creates it: derived, aes256-gcm96. */
export const TRANSIT_KEY_SETTINGS = { type: 'aes256-gcm96', derived: true } as const;
