/**
 * A small TCP forwarder: listens on `listen` and pipes every connection to the address `target()` resolves
 * at that moment. `npm start` uses it both ways across the node's bridge: the node's address to a component
 * on loopback (pods reach OpenBao, Redis, Alertmanager on the host), and loopback to a Service's ready pods
 * (the README's `curl localhost:8085` reaches auth-service's pod). The host cannot reach a ClusterIP (the
 * Service range is a blackhole route on the host; kube-proxy's rules apply to the bridge), so Services are
 * reached by their endpoints, resolved per connection.
 */
import net from 'node:net';

export interface Target {
  readonly host: string;
  readonly port: number;
}

export interface Forwarder {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function forwardTcp(
  listen: { host: string; port: number },
  target: () => Target | undefined | Promise<Target | undefined>,
): Promise<Forwarder> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted += 1;
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    Promise.resolve()
      .then(target)
      .then(
        (t) => {
          if (!t || client.destroyed) {
            client.destroy();
            return;
          }
          const upstream = net.connect(t.port, t.host);
          sockets.add(upstream);
          upstream.once('close', () => {
            sockets.delete(upstream);
            client.destroy();
          });
          upstream.on('error', () => upstream.destroy());
          client.once('close', () => upstream.destroy());
          upstream.once('connect', () => {
            client.pipe(upstream);
            upstream.pipe(client);
            client.resume();
          });
        },
        () => client.destroy(),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    host: listen.host,
    port: listen.port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A target function that round-robins over addresses `list()` returns, refreshed at most every `ttlMs`
 * (concurrent callers share one refresh). Resolves undefined while the list is empty.
 */
export function roundRobin(
  list: () => Promise<readonly Target[]>,
  ttlMs = 2000,
): () => Promise<Target | undefined> {
  let cached: readonly Target[] = [];
  let at = 0;
  let pending: Promise<readonly Target[]> | undefined;
  let next = 0;
  return async () => {
    if (Date.now() - at > ttlMs) {
      pending ??= list()
        .catch(() => cached)
        .finally(() => {
          pending = undefined;
        });
      cached = await pending;
      // An empty list is asked again at the next connection (a pod may just have become ready).
      at = cached.length ? Date.now() : 0;
    }
    if (cached.length === 0) return undefined;
    next = (next + 1) % cached.length;
    return cached[next];
  };
}
