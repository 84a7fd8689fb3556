import type { JWK } from 'jose';
import type { KeysetDocument } from '../../../../lib/keyset.js';

/**
 * What the SigningKeyRotation controller needs from Vault: the key tree of one resource, at
 * `<mount>/novapos/signing-keys/<namespace>/<name>/` (docs/contracts.md, "Signing keys"). Private key
 * material goes in through `createKey` and never comes back out: `observe` returns public data only.
 */
export interface SigningKeyStore {
  /** The key-set document and every per-key secret, public parts only. */
  observe(loc: KeyLocation): Promise<VaultObservation>;
  /** Writes a new key's secret with check-and-set 0: fails (`cas_mismatch`) if the kid already exists. */
  createKey(loc: KeyLocation, key: NewKeySecret): Promise<void>;
  /** Rewrites a key's secret with another `state`, check-and-set on `expectedVersion`. */
  setKeyState(loc: KeyLocation, kid: string, state: KeySecretState, expectedVersion: number): Promise<void>;
  /** Writes the key-set document, check-and-set on `expectedVersion` (0: it must not exist yet). */
  writeKeyset(loc: KeyLocation, doc: KeysetDocument, expectedVersion: number): Promise<void>;
  /** Destroys every version of a key's secret (the material is gone, not soft-deleted), then its metadata. */
  destroyKey(loc: KeyLocation, kid: string): Promise<void>;
  /** Destroys the whole tree of one resource: every key and the key-set document (resource deleted). */
  destroyAll(loc: KeyLocation): Promise<void>;
}

/** The key tree of one SigningKeyRotation. */
export interface KeyLocation {
  readonly mount: string;
  readonly namespace: string;
  readonly name: string;
}

export type KeySecretState = 'next' | 'active' | 'retired' | 'revoked';

export interface NewKeySecret {
  readonly kid: string;
  readonly alg: string;
  readonly state: KeySecretState;
  readonly privateJwk: JWK;
  readonly createdAt: string;
}

/** One per-key secret as observed: public data only. */
export interface StoredKey {
  readonly kid: string;
  /** KV v2 current version (for check-and-set); 0 when only metadata is left. */
  readonly version: number;
  /** Absent when the current version holds no readable key (deleted, destroyed, or not a key secret). */
  readonly material?: {
    readonly alg: string;
    readonly state: KeySecretState;
    readonly createdAt: string;
    /** Derived from the private JWK by allow-list of public members. */
    readonly publicJwk: JWK;
  };
}

export interface VaultObservation {
  /** The key-set document when it exists and is well formed. */
  readonly keyset?: KeysetDocument;
  /** Its KV v2 current version; 0 when it does not exist. Check-and-set uses it. */
  readonly keysetVersion: number;
  /** True when a document exists but is not a valid key-set document. */
  readonly keysetInvalid: boolean;
  readonly keys: readonly StoredKey[];
}

/** `novapos/signing-keys/<namespace>/<name>` (inside the mount). */
export function keyTreePath(loc: KeyLocation): string {
  return `novapos/signing-keys/${loc.namespace}/${loc.name}`;
}

/** Picks the store for a resource's `spec.vault.connection`; undefined when no such connection is configured. */
export type SigningKeyStoreResolver = (connection: string) => SigningKeyStore | undefined;
