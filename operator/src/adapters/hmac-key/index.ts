import { createHmac, randomBytes } from 'node:crypto';
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../../../lib/log.js';
import { isConflict, isNotFound } from '../../runtime/index.js';

/**
 * The key that makes plan fingerprints (keyed HMAC-SHA256 of secret values). Without it a fingerprint
 * cannot be checked against a guessed value, so status can show "equal / changed" without leaking values.
 * It must be the same on every replica and across restarts, or every plan would look changed.
 */
export interface FingerprintKey {
  /** Names the key in status (`plan.fingerprintKeyId`) without revealing it. */
  readonly id: string;
  /** HMAC-SHA256 of a value, truncated; equal values give equal fingerprints. */
  fingerprint(value: string): string;
}

/** Where the key lives; `get()` creates it on first use. */
export interface FingerprintKeySource {
  get(): Promise<FingerprintKey>;
}

/** Hex characters of a fingerprint: 64 bits tell "changed" from "equal" with no practical collision risk. */
export const FINGERPRINT_HEX_CHARS = 16;
const KEY_BYTES = 32;
const DATA_KEY = 'hmac-key';

export function fingerprintKeyFrom(key: Buffer): FingerprintKey {
  if (key.length < 16) throw new Error('fingerprint key: at least 16 bytes are needed');
  const id = createHmac('sha256', key).update('novapos/secret-promotion/key-id').digest('hex').slice(0, 12);
  return {
    id,
    fingerprint: (value) =>
      createHmac('sha256', key).update(value).digest('hex').slice(0, FINGERPRINT_HEX_CHARS),
  };
}

export interface KubernetesSecretKeyOptions {
  readonly core: CoreV1Api;
  /** The operator's namespace. */
  readonly namespace: string;
  /** Default `novapos-promotion-fingerprint-key`. */
  readonly name?: string;
  readonly log?: Logger;
}

/**
 * The key in an immutable Kubernetes Secret in the operator's namespace. Created once with create-if-absent
 * semantics: every replica that finds no Secret tries to create one with its own random key; the apiserver
 * accepts exactly one create (the others get 409 AlreadyExists) and everyone then reads the winner's key.
 */
export class KubernetesSecretFingerprintKey implements FingerprintKeySource {
  readonly name: string;
  private cached?: Promise<FingerprintKey>;

  constructor(private readonly opts: KubernetesSecretKeyOptions) {
    this.name = opts.name ?? 'novapos-promotion-fingerprint-key';
  }

  get(): Promise<FingerprintKey> {
    this.cached ??= this.load().catch((err: unknown) => {
      this.cached = undefined; // retry on the next reconcile
      throw err;
    });
    return this.cached;
  }

  private async load(): Promise<FingerprintKey> {
    const existing = await this.read();
    if (existing) return fingerprintKeyFrom(existing);
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.name,
        namespace: this.opts.namespace,
        labels: {
          'app.kubernetes.io/part-of': 'novapos-operator',
          'app.kubernetes.io/component': 'secret-promotion',
        },
        annotations: {
          'security.novapos.io/purpose':
            'HMAC key for SecretPromotion plan fingerprints; replacing it makes every plan look changed',
        },
      },
      type: 'Opaque',
      immutable: true,
      data: { [DATA_KEY]: randomBytes(KEY_BYTES).toString('base64') },
    };
    try {
      await this.opts.core.createNamespacedSecret({ namespace: this.opts.namespace, body });
      this.opts.log?.info({ secret: `${this.opts.namespace}/${this.name}` }, 'created the fingerprint key');
    } catch (err) {
      if (!isConflict(err)) throw err; // another replica won the race: use its key
    }
    const created = await this.read();
    if (!created)
      throw new Error(`fingerprint key Secret ${this.opts.namespace}/${this.name} vanished after create`);
    return fingerprintKeyFrom(created);
  }

  private async read(): Promise<Buffer | undefined> {
    try {
      const secret = await this.opts.core.readNamespacedSecret({
        name: this.name,
        namespace: this.opts.namespace,
      });
      const encoded = secret.data?.[DATA_KEY];
      if (!encoded) {
        throw new Error(
          `fingerprint key Secret ${this.opts.namespace}/${this.name} has no ${DATA_KEY} entry`,
        );
      }
      return Buffer.from(encoded, 'base64');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

/** A fixed key (unit tests, benchmarks). */
export function staticFingerprintKey(key: Buffer): FingerprintKeySource {
  const k = fingerprintKeyFrom(key);
  return { get: async () => k };
}
