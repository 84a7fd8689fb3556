import { splitKvPath, type VaultClient } from '../../../../lib/vault.js';
import type { KeysetSource } from '../domain/keyring.js';

/**
 * Reads the signing-key tree of one SigningKeyRotation from Vault KV v2 (docs/contracts.md): the key-set
 * document at `<keysetPath>/keyset` and the active key's secret at `<keysetPath>/<kid>`. Read-only: the
 * operator writes them.
 */
export class VaultKeysetSource implements KeysetSource {
  private readonly mount: string;
  private readonly base: string;

  constructor(
    private readonly vault: VaultClient,
    keysetPath: string,
  ) {
    const { mount, path } = splitKvPath(keysetPath);
    this.mount = mount;
    this.base = path;
  }

  async readKeyset(): Promise<unknown> {
    return (await this.vault.kvRead(this.mount, `${this.base}/keyset`))?.data;
  }

  async readKey(kid: string): Promise<unknown> {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(kid)) return undefined; // a kid is a path segment: no traversal
    return (await this.vault.kvRead(this.mount, `${this.base}/${kid}`))?.data;
  }
}
