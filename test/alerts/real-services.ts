/**
 * Helpers for the end-to-end alert and dashboard tests against the REAL services (auth-service, and the
 * integration gateway for the dashboards): the services in this process on real PostgreSQL, OpenBao and Redis,
 * a request helper that can send from several loopback source addresses (distinct client IPs without trusting
 * X-Forwarded-For), and the project's Alertmanager configuration pointed at the recording sinks.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { VaultClient } from '../../lib/vault.js';
import {
  aDatabase,
  aSigningKey,
  readOnlyToken,
  startTestService,
  type TestService,
  type TestSigningKey,
  uniquePrefix,
  writeKeyTree,
} from '../auth-service/helpers.js';
import type { RecordedRequest, Sink } from '../harness/components/sinks.js';
import { waitUntil } from '../harness/wait.js';

export interface PagerDutyEvent {
  routing_key: string;
  dedup_key: string;
  event_action: 'trigger' | 'resolve';
  links?: { href: string; text: string }[];
  payload: { summary: string; severity: string; class: string; custom_details: Record<string, string> };
}

export interface SlackMessage {
  channel: string;
  attachments: { title: string; title_link: string; text: string }[];
}

export const pagerDutyEvents = (sink: Sink): PagerDutyEvent[] =>
  sink.records.map((r) => r.body as PagerDutyEvent);
export const pagerDutyEventsFor = (sink: Sink, alertname: string): PagerDutyEvent[] =>
  pagerDutyEvents(sink).filter((e) => e.payload?.class === alertname);
/** Every PagerDuty trigger for `alertname` so far, once there is one (waits at most `timeoutMs`). */
export const pagerDutyTriggers = (
  sink: Sink,
  alertname: string,
  timeoutMs = 60_000,
): Promise<PagerDutyEvent[]> =>
  waitUntil(
    `a PagerDuty trigger for ${alertname}`,
    () => {
      const triggers = pagerDutyEventsFor(sink, alertname).filter((e) => e.event_action === 'trigger');
      return triggers.length ? triggers : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
export const slackRecordsFor = (sink: Sink, alertname: string): RecordedRequest[] =>
  sink.records.filter((r) =>
    (r.body as SlackMessage).attachments?.some((a) => a.title.includes(` ${alertname} `)),
  );

/** The bootstrap token the deployments below accept once at POST /register-first (X-Bootstrap-Token). */
export const BOOTSTRAP_TOKEN = `nbt_${randomBytes(24).toString('base64url')}`;

/** Where the real auth-service gets its database and signing keys. */
export interface AuthBackends {
  readonly postgresUrl: string;
  readonly vaultAddr: string;
  readonly vaultRootToken: string;
}

/** auth-service replicas sharing one database and one key tree, as the pods of one Deployment. */
export interface AuthDeployment {
  readonly replicas: TestService[];
  readonly databaseUrl: string;
  readonly key: TestSigningKey;
  /** host:port of every replica's admin listener (/metrics), for a Prometheus static_config. */
  readonly addresses: string[];
  /** Stops replica `i` (its port stays reserved for `restart`). */
  stop(i: number): Promise<void>;
  /** Starts replica `i` again on the same port. */
  restart(i: number): Promise<void>;
  close(): Promise<void>;
}

export async function startAuthDeployment(
  backends: AuthBackends,
  opts: { label: string; replicas: number; env?: Record<string, string> },
): Promise<AuthDeployment> {
  const root = new VaultClient({
    addr: backends.vaultAddr,
    auth: { method: 'token', token: backends.vaultRootToken },
  });
  const base = uniquePrefix(opts.label);
  const key = await aSigningKey('ES256');
  await writeKeyTree(root, base, { keys: [{ key, state: 'active' }], activeKid: key.kid });
  const databaseUrl = await aDatabase(backends.postgresUrl, opts.label.replace(/-/g, '_'));
  const serviceEnv = {
    // The first admin is bootstrapped through the API with the one-time token (BOOTSTRAP_TOKEN below).
    ALLOW_REGISTER_FIRST: 'true',
    AUTH_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN,
    DATABASE_URL: databaseUrl,
    VAULT_ADDR: backends.vaultAddr,
    VAULT_TOKEN: await readOnlyToken(root, backends.vaultRootToken, base),
    SIGNING_KEYSET_PATH: base,
    ...opts.env,
  };
  const replicas: TestService[] = [];
  // One after the other: the first one runs the migrations.
  for (let i = 0; i < opts.replicas; i++) replicas.push(await startTestService(serviceEnv));
  const ports = replicas.map((r) => r.port);
  const adminPorts = replicas.map((r) => r.adminPort);
  const stopped = new Set<number>();
  return {
    replicas,
    databaseUrl,
    key,
    addresses: adminPorts.map((p) => `127.0.0.1:${p}`),
    async stop(i) {
      stopped.add(i);
      await replicas[i]!.close();
    },
    async restart(i) {
      replicas[i] = await startTestService({
        ...serviceEnv,
        PORT: String(ports[i]),
        ADMIN_PORT: String(adminPorts[i]),
      });
      stopped.delete(i);
    },
    async close() {
      await Promise.all(replicas.map((r, i) => (stopped.has(i) ? undefined : r.close().catch(() => {}))));
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * One JSON request from the loopback address `from` (127.0.0.x): to the service, a different client IP, read
 * from the socket as in production where no proxy hop is trusted (TRUST_PROXY_HOPS=0).
 */
export function request(
  baseUrl: string,
  method: string,
  urlPath: string,
  opts: {
    from?: string;
    tenant?: string;
    token?: string;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
): Promise<Reply> {
  const url = new URL(urlPath, baseUrl);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.tenant) headers['x-tenant-id'] = opts.tenant;
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        localAddress: opts.from,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown> = {};
          try {
            body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            body = {};
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export const errorCode = (r: Reply): string | undefined =>
  (r.body['error'] as { code?: string } | undefined)?.code;

/** A password that satisfies the service's policy, unique per call. */
export const aPassword = (): string => `Ledger-${randomBytes(6).toString('hex')}-Tram!9`;
