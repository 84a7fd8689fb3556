import type { JSONWebKeySet, JWK } from 'jose';
import type { KeysetDocument } from '../../../../lib/keyset.js';
import { publicJwkOf } from '../../../../lib/keyset.js';
import type { VaultClient } from '../../../../lib/vault.js';
import {
  type KeyLocation,
  type KeySecretState,
  keyTreePath,
  type NewKeySecret,
  type SigningKeyStore,
  type SigningKeyStoreResolver,
  type StoredKey,
  type VaultObservation,
} from './signing-key-store.js';

const KEYSET = 'keyset';
const STATES: readonly KeySecretState[] = ['next', 'active', 'retired', 'revoked'];

/**
 * SigningKeyStore over lib/vault.ts (KV v2). Reads return public data only: the private JWK is read to
 * rewrite a key's state and to derive its public key, and is dropped inside this file.
 */
export class VaultSigningKeyStore implements SigningKeyStore {
  constructor(private readonly vault: VaultClient) {}

  async observe(loc: KeyLocation): Promise<VaultObservation> {
    const base = keyTreePath(loc);
    const names = await this.vault.kvList(loc.mount, base);
    const kids = names.filter((n) => !n.endsWith('/') && n !== KEYSET).sort();
    const [keysetRead, ...keys] = await Promise.all([
      this.readKeyset(loc.mount, `${base}/${KEYSET}`),
      ...kids.map((kid) => this.readKey(loc.mount, `${base}/${kid}`, kid)),
    ]);
    return { ...keysetRead, keys };
  }

  async createKey(loc: KeyLocation, key: NewKeySecret): Promise<void> {
    await this.vault.kvWrite(loc.mount, `${keyTreePath(loc)}/${key.kid}`, { ...key }, { cas: 0 });
  }

  async setKeyState(
    loc: KeyLocation,
    kid: string,
    state: KeySecretState,
    expectedVersion: number,
  ): Promise<void> {
    const path = `${keyTreePath(loc)}/${kid}`;
    const current = await this.vault.kvRead<Record<string, unknown>>(loc.mount, path);
    if (!current) throw new Error(`signing key ${kid}: no readable version to update`);
    await this.vault.kvWrite(loc.mount, path, { ...current.data, state }, { cas: expectedVersion });
  }

  async writeKeyset(loc: KeyLocation, doc: KeysetDocument, expectedVersion: number): Promise<void> {
    await this.vault.kvWrite(
      loc.mount,
      `${keyTreePath(loc)}/${KEYSET}`,
      { ...doc },
      { cas: expectedVersion },
    );
  }

  async destroyKey(loc: KeyLocation, kid: string): Promise<void> {
    await this.destroyPath(loc.mount, `${keyTreePath(loc)}/${kid}`);
  }

  async destroyAll(loc: KeyLocation): Promise<void> {
    const base = keyTreePath(loc);
    for (const n of await this.vault.kvList(loc.mount, base)) {
      if (!n.endsWith('/')) await this.destroyPath(loc.mount, `${base}/${n}`);
    }
  }

  /** Destroys every version still holding data, then deletes the metadata (no history left). */
  private async destroyPath(mount: string, path: string): Promise<void> {
    const meta = await this.vault.kvMetadata(mount, path);
    if (!meta) return;
    const live = Object.entries(meta.versions)
      .filter(([, v]) => !v.destroyed)
      .map(([v]) => Number(v));
    await this.vault.kvDestroyVersions(mount, path, live);
    await this.vault.kvDeleteAll(mount, path);
  }

  private async readKeyset(
    mount: string,
    path: string,
  ): Promise<Pick<VaultObservation, 'keyset' | 'keysetVersion' | 'keysetInvalid'>> {
    const secret = await this.vault.kvRead<Record<string, unknown>>(mount, path);
    if (!secret) {
      // A deleted current version still counts for check-and-set.
      const meta = await this.vault.kvMetadata(mount, path);
      return { keysetVersion: meta?.currentVersion ?? 0, keysetInvalid: false };
    }
    const doc = asKeysetDocument(secret.data);
    return { keyset: doc, keysetVersion: secret.version, keysetInvalid: doc === undefined };
  }

  private async readKey(mount: string, path: string, kid: string): Promise<StoredKey> {
    const secret = await this.vault.kvRead<Record<string, unknown>>(mount, path);
    if (!secret) {
      const meta = await this.vault.kvMetadata(mount, path);
      return { kid, version: meta?.currentVersion ?? 0 };
    }
    const d = secret.data;
    const jwk = d['privateJwk'] as JWK | undefined;
    const state = d['state'] as KeySecretState;
    if (
      d['kid'] !== kid ||
      typeof d['alg'] !== 'string' ||
      !STATES.includes(state) ||
      !jwk ||
      typeof jwk !== 'object'
    ) {
      return { kid, version: secret.version };
    }
    let publicJwk: JWK;
    try {
      publicJwk = publicJwkOf(jwk, kid, d['alg']);
    } catch {
      return { kid, version: secret.version };
    }
    return {
      kid,
      version: secret.version,
      material: { alg: d['alg'], state, createdAt: String(d['createdAt'] ?? secret.createdTime), publicJwk },
    };
  }
}

/** The fields the controller relies on; anything else makes the document invalid (it is then rewritten). */
function asKeysetDocument(raw: Record<string, unknown>): KeysetDocument | undefined {
  const jwks = raw['jwks'] as JSONWebKeySet | undefined;
  if (!jwks || !Array.isArray(jwks.keys)) return undefined;
  if (!jwks.keys.every((k) => k && typeof k.kid === 'string' && typeof k.alg === 'string' && !('d' in k)))
    return undefined;
  if (typeof raw['activeKid'] !== 'string' || typeof raw['keysetHash'] !== 'string') return undefined;
  return {
    issuer: String(raw['issuer'] ?? ''),
    audiences: Array.isArray(raw['audiences']) ? raw['audiences'].map(String) : [],
    algorithm: String(raw['algorithm'] ?? ''),
    jwks: { keys: jwks.keys },
    activeKid: raw['activeKid'],
    nextKid: typeof raw['nextKid'] === 'string' ? raw['nextKid'] : '',
    keysetHash: raw['keysetHash'],
    jwksCacheTTLSeconds: Number(raw['jwksCacheTTLSeconds'] ?? 0),
    maxTokenTTLSeconds: Number(raw['maxTokenTTLSeconds'] ?? 0),
    updatedAt: String(raw['updatedAt'] ?? ''),
  };
}

/** Resolves `spec.vault.connection` to a store over the configured Vault clients (`local` and named ones). */
export function vaultSigningKeyStores(clients: ReadonlyMap<string, VaultClient>): SigningKeyStoreResolver {
  const stores = new Map<string, SigningKeyStore>();
  for (const [name, client] of clients) stores.set(name, new VaultSigningKeyStore(client));
  return (connection) => stores.get(connection);
}
