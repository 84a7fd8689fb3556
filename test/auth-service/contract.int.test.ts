import { randomInt, randomUUID } from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { generateSecret } from 'otplib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { openApiDocument } from '../../services/auth-service/src/openapi.js';
import { OPERATIONS, type Operation, Schemas } from '../../services/auth-service/src/routes/api.js';
import { awaitFreshTotpWindow, startServiceWithKeys, type TestService, totpNow } from './helpers.js';

FormatRegistry.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v));
FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)) && /^\d{4}-\d{2}-\d{2}T/.test(v));

const TENANT = 'fuzzco';
const PASSWORD = 'Correct-Horse-42!battery';
const EXAMPLES = Number(process.env['AUTH_FUZZ_EXAMPLES'] ?? 50);
const SEED = Number(process.env['AUTH_FUZZ_SEED'] ?? randomInt(2 ** 31));

/** mulberry32: a small seeded PRNG, so a failing run is replayed with AUTH_FUZZ_SEED. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof prng>;

const CHARS =
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@!#%&*()[]{}:;"\' \\/\u00e9\u{1f600}\u0000';

function junk(rng: Rng, depth = 0): unknown {
  switch (rng.int(0, depth > 1 ? 4 : 6)) {
    case 0:
      return null;
    case 1:
      return rng.int(-(2 ** 31), 2 ** 31);
    case 2:
      return rng.chance(0.5);
    case 3:
      return rng.next() * 1e6;
    case 4:
      return randomString(rng, rng.int(0, 40));
    case 5:
      return [junk(rng, depth + 1), junk(rng, depth + 1)];
    default:
      return { [randomString(rng, 5)]: junk(rng, depth + 1) };
  }
}

/** Header values: visible ASCII only (fetch refuses the rest before sending). */
function headerString(rng: Rng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++)
    s += rng.pick([...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!*']);
  return s;
}

function randomString(rng: Rng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += rng.pick([...CHARS]);
  return s;
}

/** A value for `schema`: mostly well-formed (to get past validation), sometimes anything at all. */
function generate(schema: TSchema, rng: Rng, depth = 0): unknown {
  if (rng.chance(0.1) || depth > 4) return junk(rng, depth);
  const s = schema as Record<string, unknown> & TSchema;
  if ('const' in s) return s['const'];
  if (Array.isArray(s['anyOf'])) return generate(rng.pick(s['anyOf'] as TSchema[]), rng, depth + 1);
  switch (s['type']) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = (s['properties'] ?? {}) as Record<string, TSchema>;
      const required = new Set((s['required'] as string[] | undefined) ?? []);
      for (const [k, v] of Object.entries(props))
        if (required.has(k) ? rng.chance(0.95) : rng.chance(0.5)) out[k] = generate(v, rng, depth + 1);
      if (rng.chance(0.1)) out[randomString(rng, 6)] = junk(rng, depth + 1);
      return out;
    }
    case 'array': {
      const n = rng.int(0, 4);
      return Array.from({ length: n }, () => generate(s['items'] as TSchema, rng, depth + 1));
    }
    case 'string': {
      if (s['format'] === 'uuid') return rng.chance(0.7) ? randomUUID() : randomString(rng, 36);
      if (s['pattern'] && rng.chance(0.5)) return randomString(rng, rng.int(1, 12)).toLowerCase();
      const max = Number(s['maxLength'] ?? 64);
      return randomString(rng, rng.int(0, Math.min(max + 8, 300)));
    }
    case 'integer':
      return rng.pick([0, 1, -1, 7, 3650, 3651, 2 ** 31, rng.int(-1000, 5000)]);
    case 'number':
      return rng.next() * 1000;
    case 'boolean':
      return rng.chance(0.5);
    default:
      return junk(rng, depth);
  }
}

type DocResponse = {
  content?: { 'application/json': { schema: Record<string, unknown> } };
};

/**
 * The contract: a property-based fuzzer over every operation of the OpenAPI document, against the real
 * service (PostgreSQL, OpenBao, Redis), with a valid admin token: at least 50 examples each, its seed printed.
 * No answer may be a 5xx other than a documented 503, nor a status or error code the document does not list
 * for that operation, nor a success body that does not match its schema.
 */
describe('auth-service API contract (property-based)', () => {
  const env = inject('env');
  let svc: TestService;
  let token = '';
  const doc = openApiDocument() as {
    paths: Record<string, Record<string, { responses: Record<string, DocResponse> }>>;
  };

  beforeAll(async () => {
    ({ svc } = await startServiceWithKeys(env, 'contract', {
      serviceEnv: {
        RATE_LIMIT_PER_IP_PER_MINUTE: '1000000',
        AUTH_LOGIN_PER_IP_PER_MINUTE: '1000000',
        AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000000',
        AUTH_MFA_PER_IP_PER_MINUTE: '1000000',
        AUTH_REGISTER_FIRST_PER_IP_PER_15_MINUTES: '1000000',
        AUTH_LOCKOUT_THRESHOLD: '1000000',
        AUTH_LOCKOUT_ACCOUNT_THRESHOLD: '1000000',
        ALLOW_REGISTER_FIRST: 'true',
        AUTH_BOOTSTRAP_TOKEN: `nbt_${randomUUID()}`,
        STEP_UP_MAX_AGE_SECONDS: '3600',
        LOG_LEVEL: 'warn',
      },
    }));
    await svc.repo.createTenant(TENANT, 'Fuzz Co');
    const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    const secret = generateSecret({ length: 20 });
    const id = await svc.repo.createUser({
      tenantId: TENANT,
      email: 'admin@fuzzco.test',
      passwordHash: await hasher.hash(PASSWORD),
      roles: ['admin'],
    });
    await svc.db.query('UPDATE users SET mfa_secret = $2, mfa_enrolled_at = now() WHERE id = $1', [
      id,
      secret,
    ]);
    await awaitFreshTotpWindow();
    const res = await fetch(`${svc.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant-id': TENANT },
      body: JSON.stringify({
        email: 'admin@fuzzco.test',
        password: PASSWORD,
        mfaCode: await totpNow(secret),
      }),
    });
    token = String(((await res.json()) as { accessToken: string }).accessToken);
    process.stderr.write(`[contract] AUTH_FUZZ_SEED=${SEED} (${EXAMPLES} examples per operation)\n`);
  });

  afterAll(async () => {
    await svc?.close();
  });

  // The operations that end the admin's session run last, so the others are fuzzed with a live token.
  const ENDING = new Set(['/logout-all', '/password/change', '/mfa/disable']);
  const ordered = [
    ...OPERATIONS.filter((o) => !ENDING.has(o.path)),
    ...OPERATIONS.filter((o) => ENDING.has(o.path)),
  ];

  it('answers every operation within its documented statuses, codes and schemas', {
    timeout: 180_000,
  }, async () => {
    const rng = prng(SEED);
    const problems: string[] = [];
    const started = Date.now();
    let requests = 0;
    for (const op of ordered) {
      for (let i = 0; i < EXAMPLES; i++) {
        const out = await exercise(op, rng);
        requests++;
        if (out) problems.push(out);
      }
    }
    process.stderr.write(
      `[contract] ${requests} requests over ${ordered.length} operations in ${Date.now() - started} ms, seed ${SEED}\n`,
    );
    expect(problems.slice(0, 20), `seed ${SEED}`).toEqual([]);
  });

  async function exercise(op: Operation, rng: Rng): Promise<string | undefined> {
    const path = op.path.replace(
      '{id}',
      rng.chance(0.8) ? randomUUID() : encodeURIComponent(randomString(rng, 8)),
    );
    const headers: Record<string, string> = {};
    if (op.tenant) headers['x-tenant-id'] = rng.chance(0.95) ? TENANT : headerString(rng, 6);
    if (op.auth !== 'none' && op.auth !== 'bootstrap_token' && rng.chance(0.9))
      headers['authorization'] = `Bearer ${token}`;
    if (op.auth === 'bootstrap_token') headers['x-bootstrap-token'] = headerString(rng, 20);
    let body: string | undefined;
    if (op.request || (op.method !== 'get' && rng.chance(0.2))) {
      const value = op.request ? generate(Schemas[op.request], rng) : junk(rng);
      body = rng.chance(0.03) ? '{"broken json' : JSON.stringify(value);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${svc.url}${path}`, { method: op.method.toUpperCase(), headers, body });
    const text = await res.text();
    const where = `${op.method.toUpperCase()} ${op.path} -> ${res.status} ${text.slice(0, 160)}`;
    const documented = doc.paths[op.path]?.[op.method]?.responses[String(res.status)];
    if (!documented) return `undocumented status: ${where}`;
    if (res.status >= 500 && res.status !== 503) return `server error: ${where}`;
    const schema = documented.content?.['application/json'].schema;
    if (!schema) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return `not JSON: ${where}`;
    }
    if (res.status >= 400) {
      const codes = (schema['properties'] as { error: { properties: { code: { enum: string[] } } } }).error
        .properties.code.enum;
      const code = (parsed as { error?: { code?: string } }).error?.code;
      if (!Value.Check(Schemas.Error, parsed)) return `error envelope does not match: ${where}`;
      if (!code || !codes.includes(code)) return `undocumented error code: ${where}`;
      return undefined;
    }
    const name = (schema['$ref'] as string).split('/').at(-1) as keyof typeof Schemas;
    if (!Value.Check(Schemas[name], parsed)) return `success body does not match ${name}: ${where}`;
    return undefined;
  }
});
