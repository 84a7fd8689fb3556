import type { KeySecretState } from '../../adapters/vault/signing-key-store.js';
import type { SigningKey } from '../../api/index.js';
import type { ModelKey, Phase } from './model.js';

/** Builders for the rule tables: a key of the model as the three records see it. */
export interface KeyGiven {
  readonly entry?: Partial<SigningKey>;
  readonly published?: boolean;
  /** The secret's state field; null: the secret has only metadata left; undefined: no secret. */
  readonly secret?: KeySecretState | null;
}

export function aKey(kid: string, phase: Phase, given: KeyGiven = {}): ModelKey {
  const state = phase === 'pending' || phase === 'orphan' || phase === 'gone' ? 'next' : phase;
  return {
    kid,
    phase,
    entry: { kid, state, algorithm: 'EdDSA', createdAt: '2025-01-01T00:00:00Z', ...given.entry },
    published: given.published ?? (phase === 'active' || phase === 'next' || phase === 'retired'),
    stored:
      given.secret === undefined
        ? undefined
        : {
            kid,
            version: 1,
            material:
              given.secret === null
                ? undefined
                : {
                    alg: 'EdDSA',
                    state: given.secret,
                    createdAt: '2025-01-01T00:00:00Z',
                    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: kid, kid },
                  },
          },
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: kid, kid },
  };
}
