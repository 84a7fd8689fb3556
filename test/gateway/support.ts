import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import { tenantRateLimitController } from '../../operator/src/controllers/tenant-rate-limit/index.js';
import { Manager } from '../../operator/src/runtime/index.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { newApiKey } from '../../services/auth-service/src/domain/secrets.js';
import { configFromEnv } from '../../services/integration-gateway/src/config.js';
import { type RunningGateway, startGateway } from '../../services/integration-gateway/src/server.js';
import {
  type aSigningKey,
  LogCapture,
  startServiceWithKeys,
  type TestService,
} from '../auth-service/helpers.js';
import type { EnvDescriptor } from '../harness/env.js';

export { expectNoSecrets, LogCapture, metricValue } from '../auth-service/helpers.js';

const PASSWORD = 'Gateway-Drill-42!horse';

/**
 * The real auth-service (shared PostgreSQL and OpenBao): issues the tokens and API keys the gateway
 * verifies, as in the runbook ("acquire an auth token from auth-service").
 */
export interface AuthFixture {
  readonly svc: TestService;
  readonly databaseUrl: string;
  readonly jwksUrl: string;
  /** Vault path of its key tree (`secret/...`) and the key it signs with, to write a new key set in tests. */
  readonly keyBase: string;
  readonly signingKey: Awaited<ReturnType<typeof aSigningKey>>;
  /** A fresh access token of a user of `tenant` (tenant and user created on first use). */
  token(tenant: string): Promise<string>;
  /** A new API key of `tenant`, stored as auth-service stores it (argon2id), with these scopes (none by default). */
  apiKey(tenant: string, scopes?: readonly string[]): Promise<{ id: string; prefix: string; key: string }>;
  revokeApiKey(tenant: string, id: string): Promise<void>;
  close(): Promise<void>;
}

export async function startAuth(
  env: EnvDescriptor,
  label: string,
  serviceEnv: Readonly<Record<string, string>> = {},
): Promise<AuthFixture> {
  const { svc, key, base, databaseUrl } = await startServiceWithKeys(env, `gw-${label}`, {
    serviceEnv: {
      LOG_LEVEL: 'warn',
      AUTH_LOGIN_PER_IP_PER_MINUTE: '1000',
      AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '1000',
      ...serviceEnv,
    },
  });
  const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
  const users = new Map<string, { email: string; userId: string }>();
  const ensureUser = async (tenant: string) => {
    let u = users.get(tenant);
    if (!u) {
      await svc.repo.createTenant(tenant, tenant);
      const email = `drill@${tenant}.example`;
      const userId = (await svc.repo.createUser({
        tenantId: tenant,
        email,
        passwordHash: await hasher.hash(PASSWORD),
        roles: ['user'],
      }))!;
      u = { email, userId };
      users.set(tenant, u);
    }
    return u;
  };
  return {
    svc,
    databaseUrl,
    jwksUrl: `${svc.url}/.well-known/jwks.json`,
    keyBase: base,
    signingKey: key,
    async token(tenant) {
      const u = await ensureUser(tenant);
      const res = await fetch(`${svc.url}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-tenant-id': tenant },
        body: JSON.stringify({ email: u.email, password: PASSWORD }),
      });
      const body = (await res.json()) as { accessToken?: string };
      if (!res.ok || !body.accessToken) throw new Error(`login for ${tenant} failed: HTTP ${res.status}`);
      return body.accessToken;
    },
    async apiKey(tenant, scopes = []) {
      const u = await ensureUser(tenant);
      const { prefix, key } = newApiKey();
      const row = await svc.repo.insertApiKey({
        tenantId: tenant,
        createdBy: u.userId,
        name: `drill-${prefix}`,
        prefix,
        keyHash: await hasher.hash(key),
        scopes: [...scopes],
        expiresAt: null,
      });
      return { id: row.id, prefix, key };
    },
    async revokeApiKey(tenant, id) {
      await svc.repo.revokeApiKey(tenant, id);
    },
    close: () => svc.close(),
  };
}

export interface TestGateway extends RunningGateway {
  readonly logs: LogCapture;
}

/** The gateway in this process on a free port, configured as main.ts would be from these env vars. */
export async function startTestGateway(env: Record<string, string | undefined>): Promise<TestGateway> {
  const logs = new LogCapture();
  const config = configFromEnv({ PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', ...env });
  const running = await startGateway(config, { logDestination: logs, shutdownDrainMs: 2000 });
  return Object.assign(running, { logs });
}

/** The TenantRateLimit controller on the runtime Manager, in this process, against the test apiserver. */
export async function startRateLimitOperator(kubeconfig: string, redisUrl: string, namespace: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const lines: string[] = [];
  const log = createLogger({
    component: 'operator',
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    }),
  });
  const limits = new RedisLimitPublisher(redisUrl);
  await limits.ready();
  const manager = new Manager({
    kubeConfig: kc,
    log,
    identity: `gateway-test-${process.pid}`,
    watchNamespaces: [namespace],
    leaderElection: false,
  });
  manager.register(tenantRateLimitController({ limits }));
  await manager.start();
  return {
    manager,
    lines,
    async stop() {
      await manager.stop();
      await limits.close();
    },
  };
}

export interface DriveResult {
  readonly statuses: number[];
  readonly elapsedMs: number;
  readonly first?: Response;
  readonly lastRejected?: Response;
}

/** `n` GETs of `path`, `concurrency` at a time, recording each status in order of completion. */
export async function drive(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  n: number,
  concurrency = 5,
): Promise<DriveResult> {
  const statuses: number[] = [];
  let next = 0;
  let lastRejected: Response | undefined;
  const started = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await fetch(`${baseUrl}${path}`, { headers });
      await res.arrayBuffer();
      statuses.push(res.status);
      if (res.status === 429) lastRejected = res;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, elapsedMs: performance.now() - started, lastRejected };
}

export const count = (statuses: readonly number[], status: number) =>
  statuses.filter((s) => s === status).length;

/** A TenantRateLimit manifest for kubectl. */
export function tenantRateLimitYaml(name: string, namespace: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'security.novapos.io/v1alpha1',
    kind: 'TenantRateLimit',
    metadata: { name, namespace },
    spec,
  });
}

/** What the recording upstream received, one entry per request. */
export interface UpstreamRequest {
  readonly method: string;
  /** The request target exactly as it arrived. */
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  /** Set when the gateway closed the connection before the request body ended. */
  aborted: boolean;
}

export interface RecordingUpstream {
  readonly url: string;
  readonly port: number;
  readonly received: UpstreamRequest[];
  /** TCP connections accepted so far (keep-alive reuses one). */
  readonly connections: () => number;
  /** Replaces the default answer (200 JSON echoing method and url) for the next requests. */
  handler?: (req: IncomingMessage, res: ServerResponse, record: UpstreamRequest) => void;
  close(): Promise<void>;
}

/**
 * A real upstream on loopback (node:http) that records every request it receives: the target, the raw
 * headers and the body. By default it answers 200 `{"upstream":true,"method","url"}` once the body ended.
 */
export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const received: UpstreamRequest[] = [];
  const upstream: { handler?: RecordingUpstream['handler'] } = {};
  const server: Server = createServer((req, res) => {
    const record: UpstreamRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: { ...req.headers },
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      aborted: false,
    };
    received.push(record);
    if (upstream.handler) return upstream.handler(req, res, record);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('aborted', () => {
      record.aborted = true;
    });
    req.on('end', () => {
      (record as { body: Buffer }).body = Buffer.concat(chunks);
      const text = JSON.stringify({ upstream: true, method: record.method, url: record.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  let connections = 0;
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(upstream, {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  }) as RecordingUpstream;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Every status line seen, e.g. a 100 Continue before the final one. */
  readonly statusLines: string[];
}

/**
 * Sends `head` (request line and header lines, no trailing blank line) and `body` as bytes on a new
 * connection and reads one response: what curl --request-target and --path-as-is do, which fetch cannot.
 * With `waitForContinue`, the body is sent only after a `100 Continue` (or never, if a final answer comes).
 */
export function rawRequest(
  port: number,
  head: string,
  body?: string | Buffer,
  opts: { waitForContinue?: boolean; timeoutMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    const statusLines: string[] = [];
    let bodySent = body === undefined || !opts.waitForContinue;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${opts.timeoutMs ?? 5000} ms: ${buffer.toString()}`));
    }, opts.timeoutMs ?? 5000);
    const tryParse = () => {
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buffer.subarray(0, end).toString('latin1').split('\r\n');
        const statusLine = lines[0] ?? '';
        const status = Number(statusLine.split(' ')[1]);
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        if (status >= 100 && status < 200) {
          statusLines.push(statusLine);
          buffer = buffer.subarray(end + 4);
          if (!bodySent && body !== undefined) {
            bodySent = true;
            socket.write(body);
          }
          continue;
        }
        const rest = buffer.subarray(end + 4);
        let text: string | undefined;
        if (headers['content-length'] !== undefined) {
          const n = Number(headers['content-length']);
          if (rest.length < n) return;
          text = rest.subarray(0, n).toString('utf8');
        } else if (headers['transfer-encoding'] === 'chunked') {
          const decoded = decodeChunked(rest);
          if (decoded === undefined) return;
          text = decoded;
        } else return; // read until close
        statusLines.push(statusLine);
        clearTimeout(timer);
        socket.destroy();
        resolve({ status, headers, body: text, statusLines });
        return;
      }
    };
    socket.on('data', (c: Buffer) => {
      buffer = Buffer.concat([buffer, c]);
      tryParse();
    });
    socket.on('end', () => {
      const end = buffer.indexOf('\r\n\r\n');
      clearTimeout(timer);
      if (end < 0) return reject(new Error(`connection closed without an answer: ${buffer.toString()}`));
      const lines = buffer.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      statusLines.push(lines[0] ?? '');
      resolve({
        status: Number((lines[0] ?? '').split(' ')[1]),
        headers,
        body: buffer.subarray(end + 4).toString('utf8'),
        statusLines,
      });
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(`${head}\r\n\r\n`);
    if (bodySent && body !== undefined) socket.write(body);
  });
}

function decodeChunked(buf: Buffer): string | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(parts).toString('utf8');
    if (buf.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
