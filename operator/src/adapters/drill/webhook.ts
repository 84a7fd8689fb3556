import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError } from '../../../../lib/errors.js';
import type { Logger } from '../../../../lib/log.js';
import { RUN_LABEL } from './alertmanager.js';
import type { RedisDeliveryLog } from './redis.js';

/** The path Alertmanager's drill receiver posts to (alerts/alertmanager/config.ts, drillWebhookUrl). */
export const DRILL_WEBHOOK_PATH = '/drills/alert-delivery';
const MAX_BODY_BYTES = 1 << 20;
/** What is read of a post without the right token: enough for Alertmanager's payload of one alert group. */
const MAX_REFUSED_BODY_BYTES = 64 << 10;
/** Run ids looked at per post: a drill's alert group names one run. */
const MAX_RUNS_PER_POST = 5;
const RUN_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface DrillWebhookOptions {
  readonly port: number;
  readonly host?: string;
  readonly deliveries: RedisDeliveryLog;
  readonly log: Logger;
  /** When set, Alertmanager must send `Authorization: Bearer <token>` (webhook_config http_config). */
  readonly bearerToken?: string;
  /**
   * A file holding the token (a mounted Secret), read again at most every few seconds so a rotated or
   * late-created Secret takes effect without a restart. While it is missing or empty every post is refused.
   */
  readonly bearerTokenFile?: string;
}

export interface DrillWebhookServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface WebhookPayload {
  receiver?: unknown;
  alerts?: { status?: unknown; labels?: Record<string, unknown> }[];
}

/** `required: false` when no token is configured; `token` undefined when one is required but unreadable. */
type TokenState = { readonly required: boolean; readonly token?: string };

const TOKEN_FILE_TTL_MS = 5_000;

function tokenSource(opts: DrillWebhookOptions): () => TokenState {
  if (opts.bearerTokenFile === undefined) {
    const token = opts.bearerToken || undefined;
    return () => ({ required: token !== undefined, token });
  }
  const file = opts.bearerTokenFile;
  let cached: { state: TokenState; at: number } | undefined;
  let warnedAt = 0;
  return () => {
    const now = Date.now();
    if (cached && now - cached.at < TOKEN_FILE_TTL_MS) return cached.state;
    let token: string | undefined;
    try {
      token = readFileSync(file, 'utf8').trim() || undefined;
    } catch {
      token = undefined;
    }
    if (!token && now - warnedAt > 60_000) {
      warnedAt = now;
      opts.log.warn({ file }, 'drill webhook token file is missing or empty: refusing every delivery');
    }
    cached = { state: { required: true, token }, at: now };
    return cached.state;
  };
}

function authorized(header: string | undefined, state: TokenState): boolean {
  if (!state.required) return true;
  if (!state.token) return false;
  const expected = Buffer.from(`Bearer ${state.token}`);
  const got = Buffer.from(header ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function readBody(req: http.IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.destroy();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(undefined));
  });
}

function parsePayload(body: Buffer): WebhookPayload | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as WebhookPayload;
  } catch {
    return undefined;
  }
}

/** The run ids a payload names (label drill_run), valid ones only. */
function runIdsOf(payload: WebhookPayload): { runId: string; status: 'firing' | 'resolved' }[] {
  const alerts = Array.isArray(payload.alerts) ? payload.alerts : [];
  const out = alerts.flatMap((alert) => {
    const runId = alert?.labels?.[RUN_LABEL];
    if (typeof runId !== 'string' || !RUN_ID.test(runId)) return [];
    return [{ runId, status: alert.status === 'resolved' ? ('resolved' as const) : ('firing' as const) }];
  });
  return out.slice(0, MAX_RUNS_PER_POST);
}

/**
 * The operator's drill delivery endpoint (port 8082): records each synthetic drill alert Alertmanager
 * delivers (receiver, firing/resolved, when) under its run id, for drill runs in flight only. The bearer
 * token is checked before anything is written; anything else is ignored.
 */
export async function startDrillWebhookServer(opts: DrillWebhookOptions): Promise<DrillWebhookServer> {
  const currentToken = tokenSource(opts);
  const server = http.createServer(async (req, res) => {
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(text);
    };
    if (req.method !== 'POST' || req.url?.split('?')[0] !== DRILL_WEBHOOK_PATH)
      return reply(404, 'not found');
    // The token first: a post without it writes nothing but a refusal note for a drill run in flight
    // (so the drill can say its alert arrived with the wrong token), read from a small body only.
    if (!authorized(req.headers.authorization, currentToken())) {
      const body = await readBody(req, MAX_REFUSED_BODY_BYTES);
      const payload = body ? parsePayload(body) : undefined;
      for (const { runId } of payload ? runIdsOf(payload) : []) {
        await opts.deliveries
          .record(runId, { receiver: 'unknown', status: 'refused', receivedAt: Date.now() })
          .catch(() => false);
      }
      return reply(401, 'unauthorized');
    }
    const body = await readBody(req);
    if (!body) return reply(413, 'too large');
    const payload = parsePayload(body);
    if (!payload) return reply(400, 'not JSON');
    const receiver = typeof payload.receiver === 'string' ? payload.receiver : 'unknown';
    const receivedAt = Date.now();
    try {
      for (const { runId, status } of runIdsOf(payload)) {
        if (await opts.deliveries.record(runId, { receiver, status, receivedAt }))
          opts.log.info({ runId, receiver, status }, 'drill alert delivered');
      }
      reply(200, 'ok');
    } catch (err) {
      opts.log.warn({ err: describeError(err) }, 'could not record a drill alert delivery');
      reply(503, 'not recorded');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1';
  return {
    url: `http://${host}:${port}${DRILL_WEBHOOK_PATH}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
