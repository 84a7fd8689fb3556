import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/ensure-system.sh');

function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const binaries = {
  redis: ['redis-server', 'redis-cli'],
  postgres: ['/usr/lib/postgresql'],
  prometheus: ['prometheus', 'promtool'],
  alertmanager: ['prometheus-alertmanager'],
} as const;

/** Installs the Debian packages for the requested components when their binaries are missing. */
export function ensureSystemPackages(want: Partial<Record<keyof typeof binaries, boolean>>): void {
  const missing = (Object.keys(binaries) as (keyof typeof binaries)[]).filter(
    (k) => want[k] && binaries[k].some((b) => (b.startsWith('/') ? !existsDir(b) : !onPath(b))),
  );
  if (missing.length === 0) return;
  execFileSync('bash', [script], { stdio: 'inherit' });
}

function existsDir(p: string): boolean {
  try {
    execFileSync('test', ['-d', p]);
    return true;
  } catch {
    return false;
  }
}
