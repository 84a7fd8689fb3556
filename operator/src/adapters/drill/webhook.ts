import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../../../lib/log.js';
import { RUN_LABEL } from './alertmanager.js';
import type { RedisDeliveryLog } from './redis.js';

/** The path Alertmanager's drill receiver posts to (alerts/alertmanager/config.ts, drillWebhookUrl). */
export const DRILL_WEBHOOK_PATH = '/drills/alert-delivery';
const MAX_BODY_BYTES = 1 << 20;
const RUN_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface DrillWebhookOptions {
  readonly port: number;
  readonly host?: string;
  readonly deliveries: RedisDeliveryLog;
  readonly log: Logger;
  /** When set, Alertmanager must send `Authorization: Bearer <token>` (webhook_config http_config). */
  readonly bearerToken?: string;
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

function authorized(header: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const expected = Buffer.from(`Bearer ${token}`);
  const got = Buffer.from(header ?? '');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/**
 * The operator's drill delivery endpoint (port 8082): records each synthetic drill alert Alertmanager
 * delivers (receiver, firing/resolved, when) under its run id. Anything else is ignored.
 */
export async function startDrillWebhookServer(opts: DrillWebhookOptions): Promise<DrillWebhookServer> {
  const server = http.createServer((req, res) => {
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(text);
    };
    if (req.method !== 'POST' || req.url?.split('?')[0] !== DRILL_WEBHOOK_PATH)
      return reply(404, 'not found');
    if (!authorized(req.headers.authorization, opts.bearerToken)) return reply(401, 'unauthorized');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(c);
    });
    req.on('end', async () => {
      let payload: WebhookPayload;
      try {
        payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload;
      } catch {
        return reply(400, 'not JSON');
      }
      const receiver = typeof payload.receiver === 'string' ? payload.receiver : 'unknown';
      const receivedAt = Date.now();
      try {
        for (const alert of payload.alerts ?? []) {
          const runId = alert.labels?.[RUN_LABEL];
          const status = alert.status === 'resolved' ? 'resolved' : 'firing';
          if (typeof runId !== 'string' || !RUN_ID.test(runId)) continue;
          await opts.deliveries.record(runId, { receiver, status, receivedAt });
          opts.log.info({ runId, receiver, status }, 'drill alert delivered');
        }
        reply(200, 'ok');
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'could not record a drill alert delivery');
        reply(503, 'not recorded');
      }
    });
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
