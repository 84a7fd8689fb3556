import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the body is JSON, the raw text otherwise. */
  readonly body: unknown;
  readonly receivedAt: string;
}

export interface Sink {
  /** Base URL; anything POSTed under it is recorded. `GET <url>/_records` lists, `DELETE` clears. */
  readonly url: string;
  readonly records: RecordedRequest[];
  stop(): Promise<void>;
}

/**
 * A small HTTP listener that records what it receives: stands in for PagerDuty's Events v2 API and a
 * Slack incoming webhook. It answers like the real endpoint does (202 with a dedup_key for Events v2,
 * 200 `ok` for Slack) so the sender treats the delivery as successful.
 */
export async function startSink(kind: 'pagerduty' | 'slack' | 'webhook'): Promise<Sink> {
  const records: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://sink');
      if (url.pathname === '/_records') {
        if (req.method === 'DELETE') records.length = 0;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(records));
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // keep the raw text
      }
      records.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        headers: req.headers,
        body,
        receivedAt: new Date().toISOString(),
      });
      if (kind === 'pagerduty') {
        const dedupKey = (body as { dedup_key?: string } | undefined)?.dedup_key ?? 'none';
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: dedupKey }));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    records,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads a sink's records over HTTP (from a test worker that does not own the sink). */
export async function sinkRecords(sinkUrl: string): Promise<RecordedRequest[]> {
  const res = await fetch(`${sinkUrl}/_records`);
  return (await res.json()) as RecordedRequest[];
}

export async function clearSink(sinkUrl: string): Promise<void> {
  await fetch(`${sinkUrl}/_records`, { method: 'DELETE' });
}
