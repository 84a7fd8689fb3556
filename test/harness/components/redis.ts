import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';

const run = promisify(execFile);

export interface RedisInstance {
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
}

async function ping(port: number, host = '127.0.0.1'): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-h', host, '-p', String(port), 'PING'], {
      timeout: 2000,
    });
    return stdout.trim() === 'PONG';
  } catch {
    return false;
  }
}

/**
 * A Redis server on loopback with persistence off. `port` lets a restart come back on the same address.
 * `opts.host` listens on that address instead (the Kubernetes node's bridge address, for pods); protected
 * mode, which refuses every client but loopback's when there is no password, is then off: the bridge is the
 * harness's own and only its pods are on it.
 */
export async function startRedis(
  dir: string,
  port?: number,
  opts: { host?: string } = {},
): Promise<RedisInstance> {
  const listenPort = port ?? (await freePort());
  const host = opts.host ?? '127.0.0.1';
  const proc = await ManagedProcess.start(
    {
      name: 'redis',
      command: 'redis-server',
      args: [
        '--port',
        String(listenPort),
        '--bind',
        host,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--protected-mode',
        opts.host ? 'no' : 'yes',
        '--loglevel',
        'warning',
      ],
      ready: () => ping(listenPort, host),
    },
    path.join(dir, 'logs'),
  );
  return { url: `redis://${host}:${listenPort}`, port: listenPort, process: proc };
}
