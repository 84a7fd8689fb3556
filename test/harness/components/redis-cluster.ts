import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';

const run = promisify(execFile);

/** One redis-server of the cluster. */
export interface ClusterServer {
  readonly port: number;
  readonly process: ManagedProcess;
}

export interface ClusterNodeState {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** For a replica, the id of its master. */
  readonly masterId?: string;
  readonly connected: boolean;
  readonly failed: boolean;
}

export interface RedisClusterInstance {
  /** Every server, masters and replicas, by port. */
  readonly servers: ReadonlyMap<number, ClusterServer>;
  /** `127.0.0.1:port,...` of every server, as REDIS_CLUSTER_NODES takes it. */
  readonly seeds: string;
  readonly dir: string;
  /** The cluster's view (CLUSTER NODES) from a server that answers. */
  nodes(): Promise<ClusterNodeState[]>;
  /** The port of the master serving `key`'s slot. */
  masterOf(key: string): Promise<number>;
  /**
   * SIGKILLs the master on `port` and waits until its replica was promoted and every slot is served again
   * (cluster_state:ok on the survivors). Returns the new master's port.
   */
  killMaster(port: number, timeoutMs?: number): Promise<number>;
  /** redis-cli against one server (e.g. `FLUSHALL`, `INFO errorstats`). */
  cli(port: number, ...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    timeout: 10_000,
    maxBuffer: 4 << 20,
  });
  return stdout;
}

async function answers(port: number): Promise<boolean> {
  try {
    return (await cli(port, 'PING')).trim() === 'PONG';
  } catch {
    return false;
  }
}

function parseNodes(text: string, portOf: (addr: string) => number): ClusterNodeState[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, addr, flags, master, , , , state] = line.split(' ');
      const f = flags!.split(',');
      return {
        id: id!,
        port: portOf(addr!),
        role: f.includes('master') ? 'master' : 'replica',
        ...(master && master !== '-' ? { masterId: master } : {}),
        connected: state === 'connected',
        failed: f.includes('fail') || f.includes('fail?'),
      } as ClusterNodeState;
    });
}

/**
 * A real Redis Cluster on loopback: `masters` masters with one replica each (redis-server from Debian, in
 * cluster mode, persistence off), slots assigned by `redis-cli --cluster create`. Node timeout 1 s, and a
 * replica may take over whatever its replication lag (`cluster-replica-validity-factor 0`), so a killed
 * master is replaced in about two seconds. `cluster-require-full-coverage no`, as a deployment of the gateway's
 * Redis Cluster must set (docs/contracts.md, "Redis or Redis Cluster"): with the default `yes` every master
 * answers CLUSTERDOWN from the moment the killed master is marked failed until its replica is promoted (about
 * a second), so the tenants of the healthy masters fail too. Every server and its data directory go away on
 * `stop()`.
 */
export async function startRedisCluster(
  dir: string,
  opts: { masters?: number } = {},
): Promise<RedisClusterInstance> {
  const count = (opts.masters ?? 3) * 2;
  const servers = new Map<number, ClusterServer>();
  const started: ManagedProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      // The cluster bus gets its own free port (the default, port + 10000, may be taken or past 65535).
      const busPort = await freePort();
      const nodeDir = path.join(dir, `redis-cluster-${port}`);
      mkdirSync(nodeDir, { recursive: true });
      const proc = await ManagedProcess.start(
        {
          name: `redis-cluster-${port}`,
          command: 'redis-server',
          args: [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            path.join(nodeDir, 'nodes.conf'),
            '--cluster-node-timeout',
            '1000',
            '--cluster-replica-validity-factor',
            '0',
            '--cluster-require-full-coverage',
            'no',
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            nodeDir,
            '--protected-mode',
            'yes',
            '--loglevel',
            'warning',
          ],
          ready: () => answers(port),
        },
        path.join(dir, 'logs'),
      );
      started.push(proc);
      servers.set(port, { port, process: proc });
    }
    const ports = [...servers.keys()];
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    await waitUntil(async () => {
      for (const p of ports) if (!/cluster_state:ok/.test(await cli(p, 'CLUSTER', 'INFO'))) return false;
      // Every replica attached to its master.
      const nodes = parseNodes(await cli(ports[0]!, 'CLUSTER', 'NODES'), portOfAddr);
      return nodes.filter((n) => n.role === 'replica' && n.masterId).length === count / 2;
    }, 30_000);
  } catch (err) {
    for (const p of started) await p.stop(2000).catch(() => {});
    throw err;
  }

  async function anyAlive(): Promise<number> {
    for (const [port, s] of servers) if (s.process.isRunning && (await answers(port))) return port;
    throw new Error('no server of the Redis Cluster answers');
  }

  async function masterOfOnce(key: string): Promise<number> {
    const from = await anyAlive();
    const slot = Number((await cli(from, 'CLUSTER', 'KEYSLOT', key)).trim());
    // CLUSTER NODES lists each master's slot ranges after its 8 fixed fields: "0-5460 5461".
    for (const line of (await cli(from, 'CLUSTER', 'NODES')).trim().split('\n')) {
      const fields = line.split(' ');
      if (!fields[2]?.split(',').includes('master') || fields[2].includes('fail')) continue;
      for (const range of fields.slice(8)) {
        const [lo, hi] = range.split('-').map(Number);
        if (slot >= lo! && slot <= (hi ?? lo)!) return portOfAddr(fields[1]!);
      }
    }
    throw new Error(`no master serves slot ${slot} (of ${key})`);
  }

  const instance: RedisClusterInstance = {
    servers,
    dir,
    seeds: [...servers.keys()].map((p) => `127.0.0.1:${p}`).join(','),
    async nodes() {
      return parseNodes(await cli(await anyAlive(), 'CLUSTER', 'NODES'), portOfAddr);
    },
    async masterOf(key) {
      // Right after a failover the slot may have no master for a moment: ask again for up to 15 s.
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          return await masterOfOnce(key);
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async killMaster(port, timeoutMs = 20_000) {
      const before = await instance.nodes();
      const victim = before.find((n) => n.port === port && n.role === 'master');
      if (!victim) throw new Error(`127.0.0.1:${port} is not a master`);
      const replica = before.find((n) => n.masterId === victim.id);
      if (!replica) throw new Error(`master 127.0.0.1:${port} has no replica`);
      await servers.get(port)!.process.crash();
      await waitUntil(async () => {
        try {
          const info = await cli(replica.port, 'CLUSTER', 'INFO');
          const role = await cli(replica.port, 'ROLE');
          return /cluster_state:ok/.test(info) && role.startsWith('master');
        } catch {
          return false;
        }
      }, timeoutMs);
      return replica.port;
    },
    cli,
    async stop() {
      for (const s of servers.values()) await s.process.stop(2000).catch(() => {});
    },
  };
  return instance;
}

/** `127.0.0.1:7001@17001` → 7001. */
function portOfAddr(addr: string): number {
  return Number(/:(\d+)/.exec(addr)?.[1]);
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`Redis Cluster: condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
