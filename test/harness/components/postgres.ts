import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';

export interface PostgresInstance {
  /** `postgres://novapos@127.0.0.1:PORT/novapos` (trust auth on loopback). */
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
}

function pgBin(tool: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const candidate = path.join(root, v, 'bin', tool);
    if (existsSync(candidate)) return candidate;
  }
  return tool; // on PATH elsewhere
}

async function accepts(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** PostgreSQL in a fresh data directory, listening on loopback only, with database and role `novapos`. */
export async function startPostgres(dir: string): Promise<PostgresInstance> {
  const dataDir = path.join(dir, 'pgdata');
  const socketDir = path.join(dir, 'pgsock');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  mkdirSync(socketDir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  // PostgreSQL refuses to run as root: as root, the data directory belongs to the `postgres` account.
  const runAs = asRoot ? 'postgres' : undefined;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dataDir, uid, gid);
    chownSync(socketDir, uid, gid);
  }
  const initdb = [
    pgBin('initdb'),
    '-D',
    dataDir,
    '-U',
    'novapos',
    '--auth=trust',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C',
  ];
  execFileSync(
    asRoot ? 'setpriv' : initdb[0]!,
    asRoot
      ? ['--reuid', 'postgres', '--regid', 'postgres', '--init-groups', '--', ...initdb]
      : initdb.slice(1),
    {
      stdio: 'pipe',
    },
  );
  const port = await freePort();
  const url = `postgres://novapos@127.0.0.1:${port}/postgres`;
  const proc = await ManagedProcess.start(
    {
      name: 'postgres',
      command: pgBin('postgres'),
      args: [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${socketDir}`,
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=200',
      ],
      runAs,
      ready: () => accepts(url),
    },
    path.join(dir, 'logs'),
  );
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('create database novapos');
  await admin.end();
  return { url: `postgres://novapos@127.0.0.1:${port}/novapos`, port, process: proc };
}
