import { randomBytes, randomInt } from 'node:crypto';
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { signWebhook } from '../../services/integration-gateway/src/domain/partner-webhooks.js';
import { GatewaySchemas } from '../../services/integration-gateway/src/openapi.js';
import { privateRedisDb } from '../harness/env.js';
import {
  type AuthFixture,
  expectNoSecrets,
  type RawResponse,
  type RecordingUpstream,
  rawRequest,
  startAuth,
  startRecordingUpstream,
  startTestGateway,
  type TestGateway,
  type UpstreamRequest,
} from './support.js';

FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)) && /^\d{4}-\d{2}-\d{2}T/.test(v));

const RUNS = Number(process.env['GATEWAY_FUZZ_RUNS'] ?? 1000);
const SEED = Number(process.env['GATEWAY_FUZZ_SEED'] ?? randomInt(2 ** 31));
/** Each property stops generating after this long (what ran is still checked); shrinking has its own bound. */
const TIME_LIMIT_MS = Number(process.env['GATEWAY_FUZZ_TIME_LIMIT_MS'] ?? 60_000);
/** Triage: GATEWAY_FUZZ_COLLECT=1 lists every broken rule once (with one request each) instead of stopping. */
const COLLECT = process.env['GATEWAY_FUZZ_COLLECT'] === '1';

// --- what the gateway is configured with, and the oracle's model of it -------------------------------------

/** Route scopes: GET /api/orders needs orders:read, any other method orders:write; /api/exports exports. */
const ROUTE_SCOPES = 'GET /api/orders=orders:read, /api/orders=orders:write, /api/exports=exports';
/** A token of role `user` holds orders:read and exports (and so never reaches /api/other, nor writes orders). */
const ROLE_SCOPES = 'user=orders:read exports';
const TOKEN_SCOPES = ['orders:read', 'exports'];
const PING = '/api/tenant/ping';
const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
const WEBHOOK_MAX_BYTES = 4096;

function requiredScope(method: string, path: string): string | undefined {
  const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
  if (under('/api/orders')) return method === 'GET' ? 'orders:read' : 'orders:write';
  if (under('/api/exports')) return 'exports';
  return undefined; // default deny
}

// --- the generated requests --------------------------------------------------------------------------------

type Credential =
  | { kind: 'none' }
  | { kind: 'jwt'; spelling: 'Bearer' | 'bearer' | 'BEARER  ' }
  | { kind: 'jwt-bad'; how: 'tampered' | 'garbage' | 'alg-none' | 'empty' | 'basic' }
  | { kind: 'key'; which: 0 | 1 | 2 }
  | { kind: 'key-bad'; how: 'known-prefix' | 'garbage' | 'twice' }
  | { kind: 'jwt-and-key' };

/** A logical target and how it is spelled on the wire. */
interface Target {
  /** What the gateway must make of it: the normalised path, or the refusal it must answer. */
  readonly expect:
    | { normalised: string }
    | { refusal: 'invalid_path' | 'invalid_request_target' | 'path_outside_api' | 'malformed' };
  readonly wire: string;
}

interface FuzzRequest {
  readonly method: string;
  readonly target: Target;
  readonly query: string;
  readonly credential: Credential;
  readonly tenantHeader: 'none' | 'own' | 'other';
  /** The "open proxy" family: fields the upstream must never get, or must get rewritten. */
  readonly extras: readonly string[];
  readonly host: 'upstream' | 'internal' | 'evil' | 'twice' | 'none';
  readonly body:
    | { kind: 'none' }
    | { kind: 'bytes'; size: number; chunked: boolean }
    | { kind: 'webhook' }
    /** Framing node's parser refuses: a bad chunk size, a Content-Length that is not a number, TE not chunked. */
    | { kind: 'bad-framing'; how: 'chunk-size' | 'length' | 'te-gzip' };
}

/** The routes a request is aimed at (and some that are not routes); `TENANT` is the suite's tenant. */
const LOGICAL = (tenant: string) => [
  PING,
  '/api/orders',
  '/api/orders/42',
  '/api/exports/2026-12',
  '/api/other/thing',
  '/api/tenant',
  '/healthz',
  '/readyz',
  '/keys/status',
  '/openapi.json',
  '/metrics',
  '/keys/reload',
  '/admin',
  '/',
  `/webhooks/coinbase/${tenant}`,
  `/webhooks/unknown/${tenant}`,
];

const UNRESERVED_ENCODING = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** Spellings that keep the meaning: encoded unreserved characters, `.` and `x/..` segments, `//`. */
const spelled = (path: string): fc.Arbitrary<Target> =>
  fc
    .array(
      fc.record({
        at: fc.nat(),
        how: fc.constantFrom(
          'encode',
          'encode-upper',
          'dot',
          'dotdot',
          'double-slash',
          'dot-encoded',
          'lower-hex',
        ),
      }),
      { maxLength: 3 },
    )
    .map((edits) => {
      let segs = path.split('/').slice(1);
      for (const { at, how } of edits) {
        if (segs.length === 0 || (segs.length === 1 && segs[0] === '')) break;
        const i = at % segs.length;
        const seg = segs[i] ?? '';
        if (how === 'encode' || how === 'encode-upper') {
          // The first unreserved character that is not already part of an escape.
          const j = seg.replace(/%[0-9A-Fa-f]{2}/g, '___').search(/[A-Za-z0-9\-.~]/);
          if (j < 0) continue;
          const enc = UNRESERVED_ENCODING(seg.charAt(j));
          segs[i] = seg.slice(0, j) + (how === 'encode-upper' ? enc.toUpperCase() : enc) + seg.slice(j + 1);
        } else if (how === 'lower-hex') {
          // Other escapes are kept, with their hex digits upper-cased: `%c3%a9` is forwarded as `%C3%A9`.
          segs[i] = seg.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
        } else if (how === 'dot') segs = [...segs.slice(0, i), '.', ...segs.slice(i)];
        else if (how === 'dot-encoded') segs = [...segs.slice(0, i), '%2E', ...segs.slice(i)];
        else if (how === 'dotdot') segs = [...segs.slice(0, i), 'zz', '..', ...segs.slice(i)];
        else segs = [...segs.slice(0, i), '', ...segs.slice(i)];
      }
      return { expect: { normalised: path }, wire: `/${segs.join('/')}` };
    });

/** Paths that began in /api/ and leave it once normalised. */
const escaping = fc
  .tuple(
    fc.constantFrom('/admin', '/metrics', '/keys/reload', '/healthz', '/', '/webhooks/coinbase/TENANT'),
    fc.constantFrom('..', '%2e%2e', '%2E%2e', '.%2e', '%2e.'),
    fc.constantFrom('/api/', '/api/x/../', '/api//', '/api/./'),
  )
  .map(([to, dots, from]) => ({
    expect: { refusal: 'path_outside_api' as const },
    wire: `${from}${dots}${to === '/' ? '/' : to}`,
  }));

/** Encodings with two meanings, `..` above the root, characters outside pchar. */
const ambiguous = fc
  .tuple(
    fc.constantFrom('/api/orders', '/api/exports', '/healthz', '/api'),
    fc.constantFrom(
      '%2F..%2Fadmin',
      '%2fadmin',
      '%5C..%5Cadmin',
      '%00',
      '%252e%252e',
      '%zz',
      '%4',
      '%',
      '\\..\\admin',
      '<x>',
      '"q"',
      '{a}',
      '|',
      '^',
      '`',
    ),
  )
  .map(([base, tail]) => ({ expect: { refusal: 'invalid_path' as const }, wire: `${base}/${tail}` }));

const aboveRoot = fc
  .constantFrom('/..', '/../api/orders', '/api/../../admin', '/%2e%2e/api/orders', '/./../x')
  .map((wire) => ({ expect: { refusal: 'invalid_path' as const }, wire }));

/** Request targets that are not origin-form: absolute-form to the upstream or an internal host, `*`, fragments. */
const notOriginForm = (internalPort: number, upstreamPort: number) =>
  fc
    .constantFrom(
      `http://127.0.0.1:${internalPort}/api/orders`,
      `http://127.0.0.1:${upstreamPort}/api/../admin`,
      `HTTP://127.0.0.1:${internalPort}/`,
      `https://example.invalid/api/orders`,
      `/api/orders#frag`,
      `/api/tenant/ping#`,
    )
    .map((wire) => ({ expect: { refusal: 'invalid_request_target' as const }, wire }));

/** What node's parser itself refuses before the gateway sees a request (a bare `*`, raw spaces, controls). */
const unparsable = fc
  .constantFrom('*', '/api/orders x', `127.0.0.1:1`, '/api/\u0001', 'api/orders', '')
  .map((wire) => ({ expect: { refusal: 'malformed' as const }, wire }));

const EXTRAS = [
  'cookie',
  'proxy-authorization',
  'connection-named',
  'keep-alive',
  'te',
  'upgrade',
  'x-forwarded-for',
  'forwarded',
  'x-forwarded-host',
  'x-novapos-scopes',
  'x-novapos-subject',
  'request-id-unsafe',
  'traceparent-bad',
  'expect-continue',
  'huge-header',
] as const;

const requestArb = (tenant: string, internalPort: number, upstreamPort: number): fc.Arbitrary<FuzzRequest> =>
  fc.record({
    method: fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE') },
      { weight: 3, arbitrary: fc.constantFrom('HEAD', 'OPTIONS') },
      { weight: 2, arbitrary: fc.constantFrom('TRACE', 'PROPFIND', 'MKCOL', 'PURGE', 'SEARCH', 'QUERY') },
      { weight: 1, arbitrary: fc.constantFrom('CONNECT', 'get', 'FOO', 'TRACK') },
    ),
    target: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom(...LOGICAL(tenant)).chain(spelled) },
      // Proxied routes more often, so that what the upstream receives is checked often.
      {
        weight: 6,
        arbitrary: fc
          .constantFrom('/api/orders', '/api/orders/42', '/api/orders/caf%C3%A9', '/api/exports/2026-12')
          .chain(spelled),
      },
      { weight: 2, arbitrary: escaping },
      { weight: 2, arbitrary: ambiguous },
      { weight: 1, arbitrary: aboveRoot },
      { weight: 1, arbitrary: notOriginForm(internalPort, upstreamPort) },
      { weight: 1, arbitrary: unparsable },
    ),
    query: fc.oneof(
      { weight: 4, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constantFrom('?a=1&b=%20x', '?next=http://127.0.0.1/admin', '?x=..%2F..') },
    ),
    credential: fc.oneof(
      { weight: 3, arbitrary: fc.constant<Credential>({ kind: 'none' }) },
      {
        weight: 6,
        arbitrary: fc
          .constantFrom('Bearer', 'bearer', 'BEARER  ')
          .map((spelling): Credential => ({ kind: 'jwt', spelling: spelling as 'Bearer' })),
      },
      {
        weight: 3,
        arbitrary: fc
          .constantFrom('tampered', 'garbage', 'alg-none', 'empty', 'basic')
          .map((how): Credential => ({ kind: 'jwt-bad', how: how as 'tampered' })),
      },
      {
        weight: 6,
        arbitrary: fc.constantFrom(0, 1, 2).map((which): Credential => ({ kind: 'key', which: which as 0 })),
      },
      {
        weight: 2,
        arbitrary: fc
          .constantFrom('known-prefix', 'garbage', 'twice')
          .map((how): Credential => ({ kind: 'key-bad', how: how as 'garbage' })),
      },
      { weight: 1, arbitrary: fc.constant<Credential>({ kind: 'jwt-and-key' }) },
    ),
    tenantHeader: fc.constantFrom('none', 'none', 'own', 'other'),
    extras: fc.subarray([...EXTRAS], { maxLength: 5 }),
    host: fc.oneof(
      { weight: 8, arbitrary: fc.constant('upstream' as const) },
      { weight: 1, arbitrary: fc.constantFrom('internal' as const, 'evil' as const) },
      { weight: 1, arbitrary: fc.constantFrom('twice' as const, 'none' as const) },
    ),
    body: fc.oneof(
      { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('bytes' as const),
          size: fc.oneof(fc.integer({ min: 1, max: 2048 }), fc.integer({ min: 60_000, max: 300_000 })),
          chunked: fc.boolean(),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'webhook' as const }) },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom('chunk-size' as const, 'length' as const, 'te-gzip' as const)
          .map((how) => ({ kind: 'bad-framing' as const, how })),
      },
    ),
  });

// --- the document --------------------------------------------------------------------------------------------

interface DocOperation {
  responses: Record<string, { content?: { 'application/json': { schema: Record<string, unknown> } } }>;
}
type Doc = { paths: Record<string, Record<string, DocOperation>> };

/** The operation the document declares for `method path` (exact paths before templates), if any. */
function operationOf(doc: Doc, method: string, path: string): DocOperation | undefined {
  const m = method.toLowerCase();
  const exact = doc.paths[path]?.[m];
  if (exact) return exact;
  for (const [template, ops] of Object.entries(doc.paths)) {
    if (!template.includes('{')) continue;
    const re = new RegExp(`^${template.replace(/\{path\}/, '.+').replace(/\{\w+\}/g, '[^/]+')}$`);
    if (re.test(path) && ops[m]) return ops[m];
  }
  return undefined;
}

/** The error codes the document allows for `status` on an operation (a response's enum). */
function documentedCodes(op: DocOperation, status: number): string[] | undefined {
  const schema = op.responses[String(status)]?.content?.['application/json'].schema as
    | { properties?: { error?: { properties?: { code?: { enum?: string[] } } } } }
    | undefined;
  return schema?.properties?.error?.properties?.code?.enum;
}

/**
 * A property-based fuzz of the integration-gateway's public port against its own OpenAPI document (served at
 * GET /openapi.json), with the real gateway, auth-service (tokens, API keys in PostgreSQL), OpenBao (webhook
 * secrets), Redis and a recording upstream. Requests are generated from valid and hostile parts: routes and
 * their equivalent spellings, paths that leave /api/ or are ambiguous, absolute-form targets, methods,
 * credentials (good, forged, twice), tenant headers, Host games, hop-by-hop and forwarding fields, bodies
 * (large, chunked, signed webhooks). Every answer must be one the document declares for the route (status and
 * stable code), never a 5xx, and the one the gateway's rules give (the oracle below); a request reaches the
 * upstream only when it must, with the normalised path and none of the caller's credentials; no secret comes
 * back. fast-check prints the seed and the shrunk request of a failure: GATEWAY_FUZZ_SEED replays it.
 */
describe('integration-gateway: property-based fuzz against its OpenAPI document', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const tenant = `fuzz-${suffix}`;
  const otherTenant = `fuzz-other-${suffix}`;
  const webhookSecret = `whsec_${randomBytes(24).toString('hex')}`;
  const cookieSecret = `ck_${randomBytes(12).toString('hex')}`;
  const proxySecret = `px_${randomBytes(12).toString('hex')}`;
  let auth: AuthFixture;
  let upstream: RecordingUpstream;
  let internal: RecordingUpstream;
  let gateway: TestGateway;
  let doc: Doc;
  let token = '';
  let keys: { key: string; prefix: string; scopes: string[] }[] = [];
  const secrets: Record<string, string> = {};
  const statuses = new Map<string, number>();
  let events = 0;

  beforeAll(async () => {
    const vault = env.vaults[0];
    if (!vault) throw new Error('the shared environment has no OpenBao');
    auth = await startAuth(env, `fuzz-${suffix}`);
    upstream = await startRecordingUpstream();
    internal = await startRecordingUpstream();
    await fetch(`${vault.addr}/v1/secret/data/novapos/partners/coinbase/${tenant}`, {
      method: 'POST',
      headers: { 'x-vault-token': vault.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { webhook_secret: webhookSecret } }),
    }).then((r) => expect(r.status).toBe(200));
    gateway = await startTestGateway({
      REDIS_URL: privateRedisDb(env.redisUrl, 7),
      DATABASE_URL: auth.databaseUrl,
      JWKS_URL: auth.jwksUrl,
      GATEWAY_UPSTREAM_URL: upstream.url,
      GATEWAY_UPSTREAM_TIMEOUT_MS: '5000',
      GATEWAY_REPLICA_ID: `gw-fuzz-${suffix}`,
      GATEWAY_RATE_LIMIT_RPM: '10000000',
      GATEWAY_ROUTE_SCOPES: ROUTE_SCOPES,
      GATEWAY_ROLE_SCOPES: ROLE_SCOPES,
      // The failure budgets are the edge suite's; here every wrong credential must get its 401.
      GATEWAY_AUTH_FAILURES_PER_ADDRESS: '10000000',
      GATEWAY_AUTH_FAILURES_PER_KEY_PREFIX: '10000000',
      GATEWAY_WEBHOOK_PARTNERS: 'coinbase',
      GATEWAY_WEBHOOK_MAX_BYTES: String(WEBHOOK_MAX_BYTES),
      VAULT_ADDR: vault.addr,
      VAULT_TOKEN: vault.rootToken,
      LOG_LEVEL: 'info',
    });
    token = await auth.token(tenant);
    await auth.token(otherTenant);
    keys = await Promise.all(
      [[], ['orders:read'], ['orders:write', 'exports']].map(async (scopes) => ({
        ...(await auth.apiKey(tenant, scopes)),
        scopes,
      })),
    );
    Object.assign(secrets, {
      token,
      webhookSecret,
      cookieSecret,
      proxySecret,
      vaultToken: vault.rootToken,
      ...Object.fromEntries(keys.map((k, i) => [`apiKey${i}`, k.key])),
    });
    const res = await fetch(`${gateway.url}/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
    process.stderr.write(`[gateway-fuzz] GATEWAY_FUZZ_SEED=${SEED} (${RUNS} runs per property)\n`);
  });

  afterAll(async () => {
    process.stderr.write(
      `[gateway-fuzz] answers by status and code: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}\n`,
    );
    expectNoSecrets(gateway?.logs.text ?? '', secrets);
    const step = async (name: string, p: Promise<unknown> | undefined) => {
      const t0 = Date.now();
      const timer = setInterval(
        () => process.stderr.write(`[gateway-fuzz] still closing ${name} after ${Date.now() - t0} ms\n`),
        10_000,
      );
      await p;
      clearInterval(timer);
    };
    await step('gateway', gateway?.close());
    await step('upstream', upstream?.close());
    await step('internal', internal?.close());
    await step('auth', auth?.close());
  });

  function authorization(c: Credential): string[] {
    const [h, p, s] = token.split('.') as [string, string, string];
    switch (c.kind) {
      case 'jwt':
        return [`Authorization: ${c.spelling} ${token}`];
      case 'jwt-and-key':
        return [`Authorization: Bearer ${token}`, `X-API-Key: ${keys[0]?.key}`];
      case 'jwt-bad': {
        const flip = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
        const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
        return [
          {
            tampered: `Authorization: Bearer ${h}.${p}.${flip}`,
            garbage: 'Authorization: Bearer abc.def.ghi',
            'alg-none': `Authorization: Bearer ${none}.${p}.`,
            empty: 'Authorization: Bearer ',
            basic: `Authorization: Basic ${Buffer.from(`u:${token}`).toString('base64')}`,
          }[c.how],
        ];
      }
      case 'key':
        return [`X-API-Key: ${keys[c.which]?.key}`];
      case 'key-bad':
        return c.how === 'twice'
          ? [`X-API-Key: ${keys[2]?.key}`, `X-API-Key: ${keys[2]?.key}`]
          : [
              `X-API-Key: ${c.how === 'garbage' ? 'not-a-key' : `${keys[1]?.prefix}${randomBytes(16).toString('hex')}`}`,
            ];
      default:
        return [];
    }
  }

  /** Who the gateway must take the caller for (as docs/integration-gateway.md says), or undefined. */
  function principal(c: Credential): { scopes: readonly string[] } | undefined {
    if (c.kind === 'jwt' || c.kind === 'jwt-and-key') return { scopes: TOKEN_SCOPES };
    if (c.kind === 'key') return { scopes: keys[c.which]?.scopes ?? [] };
    return undefined;
  }

  /** The answer the gateway's rules give: a status and code, or 'upstream' (proxied), or a local success. */
  function oracle(r: FuzzRequest): { status: number; code?: string; upstream?: boolean } | undefined {
    // node's parser reads the request line first (method, then target), then the fields.
    if (!/^[A-Z]+$/.test(r.method) || ['TRACK', 'FOO'].includes(r.method))
      return { status: 400, code: 'malformed_request' };
    const t = r.target.expect;
    if ('refusal' in t && t.refusal === 'malformed') return undefined; // node's parser: checked by the document
    if (r.extras.includes('huge-header')) return { status: 431, code: 'headers_too_large' };
    if (r.body.kind === 'bad-framing' && r.body.how === 'length')
      return { status: 400, code: 'malformed_request' };
    if (r.method === 'CONNECT') return { status: 400, code: 'invalid_request_target' };
    // RFC 9112 6.3: Transfer-Encoding whose last coding is not chunked is a 400 (the body's end is unknown).
    if (r.body.kind === 'bad-framing' && r.body.how === 'te-gzip')
      return { status: 400, code: 'malformed_request' };
    // The gateway never switches protocols, and node does not parse a body after Upgrade reliably: refused.
    if (r.extras.includes('upgrade') && r.body.kind !== 'none')
      return { status: 400, code: 'malformed_request' };
    // RFC 9112 3.2: an HTTP/1.1 request has exactly one Host field.
    if (r.host === 'none' || r.host === 'twice') return { status: 400, code: 'malformed_request' };
    if ('refusal' in t) return { status: 400, code: t.refusal };
    if (r.method === 'TRACE') return { status: 405, code: 'method_not_allowed' };
    const path = t.normalised.replace('TENANT', tenant);
    if (path.startsWith('/api/')) {
      // The document's methods (HEAD is GET without a body); anything else never reaches the upstream.
      if (!API_METHODS.includes(r.method)) return { status: 405, code: 'method_not_allowed' };
      const who = principal(r.credential);
      if (!who) return { status: 401, code: 'unauthorized' };
      if (r.tenantHeader === 'other') return { status: 403, code: 'tenant_mismatch' };
      if (path === PING) return { status: 200 };
      const needed = requiredScope(r.method, path);
      if (!who.scopes.includes(needed ?? '*')) return { status: 403, code: 'insufficient_scope' };
      return { status: 200, upstream: true };
    }
    if (path.startsWith('/webhooks/')) {
      if (!path.startsWith('/webhooks/coinbase/')) return { status: 404, code: 'not_found' };
      if (r.method !== 'POST') return { status: 405, code: 'method_not_allowed' };
      if (r.body.kind === 'bytes' && r.body.size > WEBHOOK_MAX_BYTES)
        return { status: 413, code: 'payload_too_large' };
      return undefined; // signature, body and replay: checked against the document
    }
    if (
      (r.method === 'GET' || r.method === 'HEAD') &&
      ['/healthz', '/readyz', '/keys/status', '/openapi.json'].includes(path)
    )
      return { status: 200 };
    return { status: 404, code: 'not_found' };
  }

  function wire(r: FuzzRequest): { head: string; body?: Buffer } {
    const target = r.target.wire.replace('TENANT', tenant) + (r.target.wire.includes('#') ? '' : r.query);
    const lines = [`${r.method} ${target} HTTP/1.1`];
    const host = {
      upstream: [`Host: 127.0.0.1:${gateway.port}`],
      internal: [`Host: 127.0.0.1:${internal.port}`],
      evil: ['Host: evil.example'],
      twice: [`Host: 127.0.0.1:${internal.port}`, 'Host: evil.example'],
      none: [],
    }[r.host];
    lines.push(...host, ...authorization(r.credential));
    if (r.tenantHeader !== 'none')
      lines.push(`X-Tenant-ID: ${r.tenantHeader === 'own' ? tenant : otherTenant}`);
    const connection = ['close'];
    for (const e of r.extras) {
      if (e === 'cookie') lines.push(`Cookie: session=${cookieSecret}`);
      else if (e === 'proxy-authorization') lines.push(`Proxy-Authorization: Basic ${proxySecret}`);
      else if (e === 'connection-named') {
        connection.push('X-Hop-Secret');
        lines.push(`X-Hop-Secret: ${proxySecret}`);
      } else if (e === 'keep-alive') lines.push('Keep-Alive: timeout=5');
      else if (e === 'te') lines.push('TE: trailers');
      else if (e === 'upgrade') {
        connection.push('Upgrade');
        lines.push('Upgrade: websocket');
      } else if (e === 'x-forwarded-for') lines.push('X-Forwarded-For: 10.66.66.66');
      else if (e === 'forwarded') lines.push('Forwarded: for=10.66.66.66;host=evil.example;proto=https');
      else if (e === 'x-forwarded-host') lines.push('X-Forwarded-Host: evil.example');
      else if (e === 'x-novapos-scopes') lines.push('X-NovaPOS-Scopes: *');
      else if (e === 'x-novapos-subject') lines.push('X-NovaPOS-Subject: admin');
      else if (e === 'request-id-unsafe') lines.push('X-Request-ID: <script>');
      else if (e === 'traceparent-bad') lines.push('traceparent: 00-zz-00-01');
      else if (e === 'expect-continue' && r.body.kind !== 'none') lines.push('Expect: 100-continue');
      else if (e === 'huge-header') lines.push(`X-Big: ${'x'.repeat(20_000)}`);
    }
    lines.push(`Connection: ${connection.join(', ')}`, `X-Fuzz-Seq: ${seq}`);
    let body: Buffer | undefined;
    if (r.body.kind === 'bytes') body = randomBytes(r.body.size);
    else if (r.body.kind === 'webhook') {
      body = Buffer.from(
        JSON.stringify({
          event: {
            id: `evt-${suffix}-${++events}`,
            type: 'charge:confirmed',
            created_at: new Date().toISOString(),
          },
        }),
      );
      lines.push(`X-CC-Webhook-Signature: ${signWebhook(body, webhookSecret)}`);
    }
    if (r.body.kind === 'bad-framing') {
      const how = r.body.how;
      lines.push(
        how === 'chunk-size'
          ? 'Transfer-Encoding: chunked'
          : how === 'length'
            ? 'Content-Length: 12abc'
            : 'Transfer-Encoding: gzip',
      );
      body = Buffer.from(how === 'chunk-size' ? 'zz\r\nhello\r\n0\r\n\r\n' : 'hello, world');
    } else if (body) {
      lines.push('Content-Type: application/octet-stream');
      if (r.body.kind === 'bytes' && r.body.chunked) {
        lines.push('Transfer-Encoding: chunked');
        body = Buffer.concat([
          Buffer.from(`${body.length.toString(16)}\r\n`),
          body,
          Buffer.from('\r\n0\r\n\r\n'),
        ]);
      } else lines.push(`Content-Length: ${body.length}`);
    }
    return { head: lines.join('\r\n'), body };
  }

  /** Every rule a single exchange must keep; a list of what it broke (empty when none). */
  function check(r: FuzzRequest, res: RawResponse, reached: UpstreamRequest[]): string[] {
    const out: string[] = [];
    const code = (() => {
      try {
        return (JSON.parse(res.body) as { error?: { code?: string } }).error?.code;
      } catch {
        return undefined;
      }
    })();
    const key = `${res.status}${code ? ` ${code}` : ''}`;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    if (res.status >= 500) out.push(`a ${res.status} (${code ?? 'no code'})`);
    if (internal.received.length > 0) out.push('a request reached the internal host');
    const answer = `${JSON.stringify(res.headers)}\n${res.body}`;
    for (const [name, value] of Object.entries(secrets))
      if (value.length >= 6 && answer.includes(value)) out.push(`the answer echoes ${name}`);
    if (res.headers['x-request-id'] === '<script>') out.push('an unsafe X-Request-ID is echoed');

    // The document: the operation of the normalised path (when the target has one) declares this answer.
    const t = r.target.expect;
    const path = 'normalised' in t ? t.normalised.replace('TENANT', tenant) : undefined;
    // HEAD is GET without the body (RFC 9110 9.3.2): it is looked up as GET.
    const op = path ? operationOf(doc, r.method === 'HEAD' ? 'GET' : r.method, path) : undefined;
    if (res.status < 400 && !op)
      out.push(`a ${res.status} for ${r.method} ${path ?? r.target.wire}: no such operation in the document`);
    const expected = oracle(r);
    if (res.status >= 400 && r.method !== 'HEAD') {
      if (!Value.Check(GatewaySchemas.Error, JSON.parse(res.body || 'null')))
        out.push(`an error answer without the error envelope: ${res.status} ${res.body.slice(0, 120)}`);
      else if (op) {
        const codes = documentedCodes(op, res.status);
        if (!codes?.includes(code ?? '')) out.push(`undocumented for ${r.method} ${path}: ${key}`);
      } else if (
        !expected &&
        ![
          'malformed_request',
          'invalid_request_target',
          'invalid_path',
          'method_not_allowed',
          'not_found',
          'path_outside_api',
          'headers_too_large',
        ].includes(code ?? '')
      )
        out.push(`an answer no route declares: ${key}`);
    } else if (op && !op.responses[String(res.status)])
      out.push(`undocumented status for ${r.method} ${path}: ${res.status}`);
    if (op && res.status < 400 && r.method !== 'HEAD') {
      const schema = op.responses[String(res.status)]?.content?.['application/json'].schema as
        | { $ref?: string }
        | undefined;
      const name = schema?.$ref?.split('/').at(-1) as keyof typeof GatewaySchemas | undefined;
      if (name && !Value.Check(GatewaySchemas[name], JSON.parse(res.body)))
        out.push(`a ${res.status} body that is not ${name}: ${res.body.slice(0, 120)}`);
    }

    // The rules: the status and code the gateway must give, and whether the upstream may see the request.
    if (expected) {
      // A bad chunk is seen when the body is read: node's 400 may come before the gateway's answer.
      const framingFirst =
        r.body.kind === 'bad-framing' && res.status === 400 && code === 'malformed_request';
      const same =
        expected.status === res.status && (!expected.code || r.method === 'HEAD' || expected.code === code);
      if (!same && !framingFirst) out.push(`expected ${expected.status} ${expected.code ?? ''}, got ${key}`);
      if (expected.upstream && res.status === 200 && reached.length !== 1)
        out.push(`proxied, but the upstream got ${reached.length} requests`);
    }
    // A signed webhook the gateway took (200) is forwarded; nothing else the rules refuse may get there.
    const mayReach =
      expected?.upstream ||
      (r.body.kind === 'webhook' && res.status === 200 && path?.startsWith('/webhooks/coinbase/') === true);
    if (!mayReach && reached.length > 0)
      out.push(`refused by the rules, yet the upstream got ${reached.map((u) => `${u.method} ${u.url}`)}`);
    for (const u of reached) {
      if (u.headers.host !== `127.0.0.1:${upstream.port}`)
        out.push(`the upstream got Host ${u.headers.host}`);
      if (expected?.upstream && u.url !== `${path}${r.query}`)
        out.push(`the upstream got ${u.url}, not the normalised ${path}${r.query}`);
      if (u.method !== r.method) out.push(`the upstream got method ${u.method}`);
      for (const f of [
        'authorization',
        'cookie',
        'x-api-key',
        'proxy-authorization',
        'x-hop-secret',
        'keep-alive',
        'te',
        'upgrade',
        'x-forwarded-host',
      ])
        if (u.headers[f] !== undefined) out.push(`the upstream got the caller's ${f}`);
      const sent = JSON.stringify(u.rawHeaders);
      for (const [name, value] of Object.entries(secrets))
        if (sent.includes(value)) out.push(`the upstream got ${name}`);
      if (String(u.headers['x-forwarded-for'] ?? '').includes('10.66.66.66'))
        out.push('the caller chose X-Forwarded-For');
      if (String(u.headers['forwarded'] ?? '').includes('evil')) out.push('the caller chose Forwarded');
      if (path?.startsWith('/api/') && u.headers['x-novapos-scopes'] === '*')
        out.push('the caller chose its scopes');
    }
    return out;
  }

  /** Each request's number, sent as X-Fuzz-Seq: what the upstream gets is told apart by it. */
  let seq = 0;
  /** The last requests sent, by number, to name a late one. */
  const sent = new Map<number, FuzzRequest>();
  async function exchange(r: FuzzRequest): Promise<string[]> {
    seq++;
    sent.set(seq, r);
    sent.delete(seq - 20);
    const before = upstream.received.length;
    const { head, body } = wire(r);
    let res: RawResponse;
    try {
      res = await rawRequest(gateway.port, head, body, { timeoutMs: 10_000 });
    } catch (err) {
      return [`no answer: ${(err as Error).message.slice(0, 200)}`];
    }
    const reached = upstream.received.slice(before);
    // A request the gateway had already answered (or node had refused) must not reach the upstream later.
    // (A forwarded webhook carries only the partner's fields, no X-Fuzz-Seq: it is answered after it is sent.)
    const late = reached.filter(
      (u) =>
        u.headers['x-fuzz-seq'] !== String(seq) &&
        !(u.headers['x-fuzz-seq'] === undefined && u.url.startsWith('/webhooks/')),
    );
    return [
      ...late.map(
        (u) =>
          `the upstream got request #${u.headers['x-fuzz-seq']} after its answer: ${JSON.stringify(sent.get(Number(u.headers['x-fuzz-seq'])))}`,
      ),
      ...check(
        r,
        res,
        reached.filter((u) => !late.includes(u)),
      ),
    ];
  }

  it('answers every generated request as its document and rules say, and the upstream sees only what it may', {
    timeout: TIME_LIMIT_MS + 120_000,
  }, async () => {
    const started = Date.now();
    let runs = 0;
    const found = new Map<string, string>();
    await fc.assert(
      fc.asyncProperty(requestArb(tenant, internal.port, upstream.port), async (r) => {
        runs++;
        const problems = await exchange(r);
        if (COLLECT) {
          for (const p of problems) if (!found.has(p)) found.set(p, JSON.stringify(r));
        } else if (problems.length) throw new Error(problems.join('; '));
      }),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
    );
    process.stderr.write(
      `[gateway-fuzz] ${runs} requests in ${Date.now() - started} ms, seed ${SEED}; upstream got ${upstream.received.length}\n`,
    );
    for (const [problem, r] of found) process.stderr.write(`[gateway-fuzz] ${problem}\n    ${r}\n`);
    expect([...found.keys()]).toEqual([]);
    expect(runs).toBeGreaterThan(Math.min(RUNS, 50));
  });
  /** What the fuzz found, each kept as a request of its own (they failed before the fix in the same commit). */
  const base: FuzzRequest = {
    method: 'GET',
    target: { expect: { normalised: '/healthz' }, wire: '/healthz' },
    query: '',
    credential: { kind: 'none' },
    tenantHeader: 'none',
    extras: [],
    host: 'upstream',
    body: { kind: 'none' },
  };
  it.each<[string, Partial<FuzzRequest>]>([
    [
      'a body with Upgrade is refused (a bad chunk after Upgrade was never reported and the request hung)',
      {
        method: 'DELETE',
        target: { expect: { normalised: '/api/orders' }, wire: '/api/orders' },
        credential: { kind: 'key', which: 2 },
        extras: ['upgrade'],
        body: { kind: 'bad-framing', how: 'chunk-size' },
      },
    ],
    [
      'Transfer-Encoding without chunked last is refused (RFC 9112 6.3), not served',
      {
        method: 'POST',
        target: { expect: { normalised: '/api/orders' }, wire: '/api/orders' },
        credential: { kind: 'key', which: 2 },
        body: { kind: 'bad-framing', how: 'te-gzip' },
      },
    ],
    [
      'a signed webhook sent through /api/../ is refused as leaving /api/, not forwarded',
      {
        method: 'POST',
        target: { expect: { refusal: 'path_outside_api' }, wire: '/api/../webhooks/coinbase/TENANT' },
        body: { kind: 'webhook' },
      },
    ],
    [
      'TRACE on a path that leaves /api/ is refused for the path',
      { method: 'TRACE', target: { expect: { refusal: 'path_outside_api' }, wire: '/api/%2e%2e/admin' } },
    ],
    [
      'a WebDAV method under /api/ is 405, not proxied',
      {
        method: 'PROPFIND',
        target: { expect: { normalised: '/api/orders/42' }, wire: '/api/orders/42' },
        credential: { kind: 'key', which: 2 },
      },
    ],
    [
      'OPTIONS on the ping is 405, not answered as a ping',
      {
        method: 'OPTIONS',
        target: { expect: { normalised: PING }, wire: PING },
        credential: { kind: 'jwt', spelling: 'Bearer' },
      },
    ],
    ['HTTP/1.1 without Host gets the error envelope', { host: 'none' }],
    [
      'two Host fields are refused (RFC 9112 3.2), not proxied',
      {
        host: 'twice',
        target: { expect: { normalised: '/api/orders' }, wire: '/api/orders' },
        credential: { kind: 'key', which: 1 },
      },
    ],
    [
      'GET /openapi.json is an operation of the document',
      { target: { expect: { normalised: '/openapi.json' }, wire: '/openapi.json' } },
    ],
  ])('%s', async (_name, r) => {
    expect(await exchange({ ...base, ...r })).toEqual([]);
  });
  it('a CONNECT with a body from a client that goes away leaves no connection behind (shutdown completes)', async () => {
    // Its own gateway: the leak showed as a close() that never ended.
    const gw = await startTestGateway({
      REDIS_URL: privateRedisDb(env.redisUrl, 7),
      GATEWAY_REPLICA_ID: `gw-fuzz-connect-${suffix}`,
      LOG_LEVEL: 'warn',
    });
    const res = await rawRequest(
      gw.port,
      'CONNECT /api/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200000',
      Buffer.alloc(200_000),
    );
    expect(res.status).toBe(400);
    const closed = await Promise.race([
      gw.close().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 8000)),
    ]);
    expect(closed, 'the gateway closed within 8 s').toBe(true);
  });
  it('a request whose body node refused (bad chunk) is not forwarded afterwards', async () => {
    const r: FuzzRequest = {
      ...base,
      target: { expect: { normalised: '/api/exports/2026-12' }, wire: '/api/exports/2026-12' },
      credential: { kind: 'key', which: 2 },
      body: { kind: 'bad-framing', how: 'chunk-size' },
    };
    expect(await exchange(r)).toEqual([]);
    const mine = String(seq);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(upstream.received.filter((u) => u.headers['x-fuzz-seq'] === mine)).toEqual([]);
  });
});
