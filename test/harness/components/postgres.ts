import { execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
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

/**
 * PostgreSQL in a fresh data directory, listening on loopback only, with database and role `novapos`.
 * `opts.host` listens on that address instead (the Kubernetes node's bridge address) and trusts connections
 * from `opts.trustCidr` (the node's pod subnet: only the harness's pods are on that bridge).
 */
export async function startPostgres(
  dir: string,
  opts: { host?: string; trustCidr?: string } = {},
): Promise<PostgresInstance> {
  const host = opts.host ?? '127.0.0.1';
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
  if (opts.trustCidr) {
    appendFileSync(path.join(dataDir, 'pg_hba.conf'), `host all all ${opts.trustCidr} trust\n`);
  }
  const port = await freePort();
  const url = `postgres://novapos@${host}:${port}/postgres`;
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
        `listen_addresses=${host}`,
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
  return { url: `postgres://novapos@${host}:${port}/novapos`, port, process: proc };
}
