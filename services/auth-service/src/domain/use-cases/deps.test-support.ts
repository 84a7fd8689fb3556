import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { expect } from 'vitest';
import type { EventPublisher, SecurityEvent } from '../../../../../lib/events.js';
import { computeKeysetHash } from '../../../../../lib/keyset.js';
import { createLogger } from '../../../../../lib/log.js';
import { RedisSessionRevocation, type RevocationRedis } from '../../../../../lib/session-revocation.js';
import { type AuthConfig, configFromEnv } from '../../config.js';
import { createMetrics } from '../../metrics.js';
import { createAuthService } from '../auth-service.js';
import { type Clock, fixedClock } from '../clock.js';
import { KeyRing, type KeysetSource } from '../keyring.js';
import { MemoryAuthStore, MemoryCipher } from '../memory-store.test-support.js';
import type { RequestContext } from '../model.js';
import { PasswordHasher } from '../passwords.js';
import type { User } from '../ports.js';
import { SuspiciousLoginDetector, SuspiciousWebhook } from '../suspicious.js';

/**
 * The use cases wired to in-memory stand-ins, for unit tests without I/O: the MemoryAuthStore, the
 * MemoryCipher, session revocation on a map (lib/session-revocation.ts's own logic), a key ring signing with
 * an ES256 key made here, a recording event publisher and a fixed clock that every part reads. Argon2 is the
 * real PasswordHasher at the lowest cost (a unit test hashes in about a millisecond).
 */

export const TENANT = 'acme';
/** A password that passes the policy (password-policy.ts). */
export const PASSWORD = 'Tr0ub4dor&Horse';

/** The configuration from env, as in production, with the given variables over the test defaults. */
export function aConfig(env: Record<string, string> = {}): AuthConfig {
  return configFromEnv({
    VAULT_ADDR: 'http://vault.invalid:8200',
    VAULT_TOKEN: 'unused-vault-is-not-called',
    SIGNING_KEYSET_PATH: 'secret/novapos/signing-keys/novapos/auth-issuer',
    // The in-process rate limits count real time, not the test clock: high enough not to interfere.
    AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
    AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
    AUTH_MFA_PER_IP_PER_MINUTE: '1000',
    ...env,
  });
}

/** A request from `ip` to the tenant. */
export function aRequest(over: Partial<RequestContext> = {}): RequestContext {
  return {
    tenantId: TENANT,
    ip: '198.51.100.7',
    requestId: 'req-1',
    traceId: 'trace-1',
    userAgent: 'unit-test',
    acceptLanguage: 'en',
    ...over,
  };
}

/** One signing key for every test of a file (generating an EC key costs a few ms). */
let keysetSource: Promise<KeysetSource> | undefined;
function aKeysetSource(): Promise<KeysetSource> {
  keysetSource ??= (async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' } as JWK;
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' } as JWK;
    const jwks = { keys: [publicJwk] };
    const keyset = {
      issuer: 'https://auth.novapos.test',
      audiences: ['novapos-api'],
      algorithm: 'ES256',
      jwks,
      activeKid: 'k1',
      nextKid: '',
      keysetHash: computeKeysetHash(jwks, 'k1'),
      jwksCacheTTLSeconds: 300,
      maxTokenTTLSeconds: 900,
      updatedAt: '2026-01-01T00:00:00Z',
    };
    const secret = {
      kid: 'k1',
      alg: 'ES256',
      state: 'active',
      privateJwk,
      createdAt: '2026-01-01T00:00:00Z',
    };
    return {
      readKeyset: async () => keyset,
      readKey: async (kid: string) => (kid === 'k1' ? secret : undefined),
    };
  })();
  return keysetSource;
}

/** Session revocation as Redis holds it, in a map whose keys expire on the test clock. */
function memoryRevocation(clock: Clock): RedisSessionRevocation {
  const values = new Map<string, { value: string; expiresAt: number }>();
  const redis: RevocationRedis = {
    mget: async (...keys) =>
      keys.map((k) => {
        const v = values.get(k);
        return v && v.expiresAt > clock.now() ? v.value : null;
      }),
    set: async (key, value, _mode, seconds) => {
      values.set(key, { value, expiresAt: clock.now() + seconds * 1000 });
    },
  };
  return new RedisSessionRevocation(redis);
}

export type RecordedEvent = SecurityEvent & { readonly topic: string };

/**
 * The auth service over in-memory stand-ins, its tenant `acme` created. `env` sets configuration
 * variables (the lockout policy, the reuse interval, ...). Returns the service and every stand-in.
 */
export async function anAuthService(opts: { env?: Record<string, string>; now?: number } = {}) {
  const config = aConfig(opts.env);
  const clock = fixedClock(opts.now ?? Date.UTC(2026, 0, 5, 9, 0, 0));
  const store = new MemoryAuthStore(clock);
  store.addTenant({ id: TENANT });
  const cipher = new MemoryCipher();
  const events: RecordedEvent[] = [];
  const publisher: EventPublisher = {
    publish: async (topic, event) => {
      events.push({ ...event, topic });
    },
    close: async () => {},
  };
  const logger = createLogger({ component: 'auth-service', level: 'silent' });
  const keyring = new KeyRing(await aKeysetSource(), { loaded: () => {}, failed: () => {} });
  await keyring.reload();
  const hasher = new PasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
  const sessions = memoryRevocation(clock);
  const service = createAuthService({
    config,
    store,
    hasher,
    keyring,
    metrics: createMetrics(),
    events: publisher,
    logger,
    detector: new SuspiciousLoginDetector(config.suspicious, () => clock.now()),
    webhook: new SuspiciousWebhook({
      url: undefined,
      bearer: undefined,
      minIntervalSeconds: 300,
      maxPerMinute: 10,
      logger,
    }),
    mfaCipher: cipher,
    sessions,
    clock,
  });
  /** A user of the tenant with PASSWORD (hashed for real) and `roles` (default a cashier). */
  const aUser = async (over: Partial<User> & { email?: string; password?: string } = {}): Promise<User> => {
    const { password = PASSWORD, ...rest } = over;
    return store.addUser({
      tenantId: TENANT,
      email: 'dana@acme.test',
      roles: ['cashier'],
      passwordHash: await hasher.hash(password),
      ...rest,
    });
  };
  return { service, config, clock, store, cipher, events, sessions, hasher, aUser };
}

/** What a rejected use case threw: its AppError code, for `expect(...).rejects`. */
export const code = (c: string) => expect.objectContaining({ code: c });
