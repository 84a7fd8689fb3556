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
 * The key in an immutable Kubernetes Secret in the operator's namespace. In a cluster the chart creates the
 * Secret empty (the operator may only get and update it by name, not create Secrets): the first replica
 * that finds it empty fills it with a random key and makes it immutable in one update; the apiserver
 * accepts exactly one such update (the others get 409 Conflict on the resourceVersion) and everyone then
 * reads the winner's key. Without the chart's Secret (local development, tests) the operator creates it,
 * with the same create-if-absent race.
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
    const found = await this.readSecret();
    const existing = found && keyOf(found);
    if (existing) return fingerprintKeyFrom(existing);
    const data = { [DATA_KEY]: randomBytes(KEY_BYTES).toString('base64') };
    const where = `${this.opts.namespace}/${this.name}`;
    try {
      if (found) {
        // The chart's empty Secret: filled once, then immutable.
        await this.opts.core.replaceNamespacedSecret({
          name: this.name,
          namespace: this.opts.namespace,
          body: { ...found, immutable: true, data: { ...found.data, ...data } },
        });
        this.opts.log?.info({ secret: where }, 'filled the fingerprint key');
      } else {
        await this.opts.core.createNamespacedSecret({
          namespace: this.opts.namespace,
          body: this.newSecret(data),
        });
        this.opts.log?.info({ secret: where }, 'created the fingerprint key');
      }
    } catch (err) {
      if (!isConflict(err)) throw err; // another replica won the race: use its key
    }
    const filled = await this.readSecret();
    const key = filled && keyOf(filled);
    if (!key)
      throw new Error(`fingerprint key Secret ${where} has no ${DATA_KEY} entry after it was written`);
    return fingerprintKeyFrom(key);
  }

  private newSecret(data: Record<string, string>): V1Secret {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.name,
        namespace: this.opts.namespace,
        labels: {
          'app.kubernetes.io/part-of': 'novapos-operator',
          'app.kubernetes.io/component': 'secret-promotion',
        },
        annotations: { [FINGERPRINT_KEY_PURPOSE_ANNOTATION]: FINGERPRINT_KEY_PURPOSE },
      },
      type: 'Opaque',
      immutable: true,
      data,
    };
  }

  private async readSecret(): Promise<V1Secret | undefined> {
    try {
      return await this.opts.core.readNamespacedSecret({ name: this.name, namespace: this.opts.namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

export const FINGERPRINT_KEY_PURPOSE_ANNOTATION = 'security.novapos.io/purpose';
export const FINGERPRINT_KEY_PURPOSE =
  'HMAC key for SecretPromotion plan fingerprints; replacing it makes every plan look changed';

/** The key bytes of the Secret; undefined while it is empty (the chart creates it so). */
function keyOf(secret: V1Secret): Buffer | undefined {
  const encoded = secret.data?.[DATA_KEY];
  return encoded ? Buffer.from(encoded, 'base64') : undefined;
}

/** A fixed key (unit tests, benchmarks). */
export function staticFingerprintKey(key: Buffer): FingerprintKeySource {
  const k = fingerprintKeyFrom(key);
  return { get: async () => k };
}
