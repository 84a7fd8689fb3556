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

async function ping(port: number): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING'], {
      timeout: 2000,
    });
    return stdout.trim() === 'PONG';
  } catch {
    return false;
  }
}

/** A Redis server on loopback with persistence off. `port` lets a restart come back on the same address. */
export async function startRedis(dir: string, port?: number): Promise<RedisInstance> {
  const listenPort = port ?? (await freePort());
  const proc = await ManagedProcess.start(
    {
      name: 'redis',
      command: 'redis-server',
      args: [
        '--port',
        String(listenPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--protected-mode',
        'yes',
        '--loglevel',
        'warning',
      ],
      ready: () => ping(listenPort),
    },
    path.join(dir, 'logs'),
  );
  return { url: `redis://127.0.0.1:${listenPort}`, port: listenPort, process: proc };
}
