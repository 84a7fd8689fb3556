import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { describeError } from '../../../lib/errors.js';

export interface ProbeState {
  /** The process is alive and not wedged. */
  healthy(): boolean;
  /** Every informer has loaded its first list. */
  ready(): boolean;
}

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

function listen(server: http.Server, port: number, host: string): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actual = (server.address() as AddressInfo).port;
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      resolve({
        port: actual,
        url: `http://${shownHost}:${actual}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** GET /metrics from the operator's own Registry. Port 0 picks a free port. */
export function startMetricsServer(
  registry: Registry,
  port: number,
  host = '0.0.0.0',
): Promise<RunningServer> {
  const server = http.createServer(async (req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    } catch (err) {
      res.writeHead(500).end(`metrics: ${describeError(err)}\n`);
    }
  });
  return listen(server, port, host);
}

/** GET /healthz (liveness) and /readyz (informers synced). */
export function startProbesServer(state: ProbeState, port: number, host = '0.0.0.0'): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    const path = req.url?.split('?')[0];
    const check = path === '/healthz' ? state.healthy() : path === '/readyz' ? state.ready() : undefined;
    if (req.method !== 'GET' || check === undefined) {
      res.writeHead(404).end('not found\n');
      return;
    }
    res.writeHead(check ? 200 : 503, { 'content-type': 'text/plain' }).end(check ? 'ok\n' : 'not ready\n');
  });
  return listen(server, port, host);
}
