import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaInstance, startKafka } from '../harness/components/kafka.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { freePort } from '../harness/ports.js';
import { type ManagedProcess, makeRunDir, removeRunDir } from '../harness/process.js';
import { auditServiceEnv, startAuditProcess } from './support.js';

/**
 * The audit-service exports the fleet HTTP and token metrics (issue 20; docs/contracts.md, "Fleet HTTP and
 * token metrics"): the real process (main.ts) against the real broker and PostgreSQL, verifying users' tokens
 * against a JWKS served here with a key made here. After a valid query, a query with a forged signature and
 * an unknown path, its /metrics counts each request under a bounded route label and each token verification,
 * and no token appears in /metrics or in its log.
 */
const ISSUER = 'https://auth.novapos.local';
const AUDIENCE = 'novapos-api';
const TENANT = 'acme';
const KID = 'fleet-metrics-k1';

let dir: string;
let kafka: KafkaInstance;
let pgi: PostgresInstance;
let jwks: Server;
let auditProc: ManagedProcess | undefined;
let adminUrl: string;
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let signingKey: PrivateKey;
let forgerKey: PrivateKey;

const token = (key: PrivateKey, jti: string) =>
  new SignJWT({ tid: TENANT, roles: ['auditor'], amr: ['pwd', 'mfa'] })
    .setProtectedHeader({ alg: 'ES256', kid: KID })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('auditor-1')
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(jti)
    .sign(key);

/** The value of the series `name{labels}` exactly (labels in the order prom-client writes them), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  dir = makeRunDir('audit-fleet-metrics');
  const [made, forger] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('ES256')]);
  signingKey = made.privateKey;
  forgerKey = forger.privateKey;
  const publicJwk: JWK = { ...(await exportJWK(made.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
  const body = JSON.stringify({ keys: [publicJwk] });
  jwks = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' }).end(body);
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  [kafka, pgi] = await Promise.all([startKafka(dir), startPostgres(dir)]);
  const adminPort = await freePort();
  adminUrl = `http://127.0.0.1:${adminPort}`;
  auditProc = await startAuditProcess(
    'audit-service',
    adminPort,
    {
      ...auditServiceEnv(kafka, pgi),
      AUDIT_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      AUDIT_QUERY_ROLES: 'auditor',
      LOG_LEVEL: 'info',
    },
    path.join(dir, 'logs'),
  );
}, 180_000);

afterAll(async () => {
  await auditProc?.stop();
  await new Promise<void>((resolve) => (jwks ? jwks.close(() => resolve()) : resolve()));
  await Promise.all([kafka?.stop(), pgi?.process.stop()]);
  if (dir) removeRunDir(dir);
});

describe('audit-service fleet metrics', () => {
  it('counts requests by bounded route and token verifications by reason; no token in /metrics or the log', async () => {
    const valid = await token(signingKey, 'fleet-valid-1');
    const forged = await token(forgerKey, 'fleet-forged-1');
    const query = (t: string) =>
      fetch(`${adminUrl}/audit/events?limit=5`, { headers: { authorization: `Bearer ${t}` } });

    const ok = await query(valid);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ events: [] });
    const refused = await query(forged);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({
      error: { code: 'token_invalid', message: 'the token is not valid' },
    });
    // An unknown path, carrying the token in its path and query: one `not_found` label, nothing of the URL.
    const unknown = await fetch(`${adminUrl}/audit/${valid}/x?token=${forged}`);
    expect(unknown.status).toBe(404);

    const scrape = async () => await (await fetch(`${adminUrl}/metrics`)).text();
    const requestsIn = (text: string, method: string, route: string, status: number) =>
      sample(text, `http_requests_total{method="${method}",route="${route}",status="${status}"}`);
    // A request is counted once its response has finished on the server, which may be just after we have it.
    await expect.poll(async () => requestsIn(await scrape(), 'GET', 'not_found', 404)).toBe(1);
    const text = await scrape();
    const requests = (method: string, route: string, status: number) =>
      requestsIn(text, method, route, status);
    expect(requests('GET', '/audit/events', 200)).toBe(1);
    expect(requests('GET', '/audit/events', 401)).toBe(1);
    expect(requests('GET', 'not_found', 404)).toBe(1);
    // The start-up probe (support.ts polls /healthz until it answers).
    expect(requests('GET', '/healthz', 200)).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'http_request_duration_seconds_count{method="GET",route="/audit/events"}')).toBe(2);
    expect(sample(text, 'http_request_duration_seconds_count{method="GET",route="not_found"}')).toBe(1);
    // Every route label is one of the listener's paths or not_found.
    const routes = new Set(
      [...text.matchAll(/^http_requests_total\{[^}]*route="([^"]*)"/gm)].map((m) => m[1]),
    );
    for (const route of routes)
      expect([
        '/audit/events',
        '/healthz',
        '/readyz',
        '/metrics',
        '/keys/status',
        '/keys/reload',
        '/audit/verify',
        '/audit/consumer/pause',
        '/audit/consumer/resume',
        'not_found',
      ]).toContain(route);

    expect(
      sample(text, 'auth_jwt_validation_failures_total{reason="signature_invalid"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'auth_jwt_validation_duration_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'auth_jwt_validation_duration_seconds_bucket{le="0.2"}')).toBeGreaterThanOrEqual(2);

    const log = readFileSync(auditProc!.logFile, 'utf8');
    // The process's own log (it loaded the key set at start).
    expect(log).toContain('"event":"jwks_fetched"');
    for (const t of [valid, forged]) {
      expect(text).not.toContain(t);
      expect(log).not.toContain(t);
      // Nor any of its three parts (a signature or payload alone is as telling).
      for (const part of t.split('.')) {
        expect(text).not.toContain(part);
        expect(log).not.toContain(part);
      }
    }
  });
});
