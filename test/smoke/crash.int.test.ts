import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isListening } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';

// A process that started an environment dies: by SIGKILL (nothing of its own runs, the kernel's
// parent-death signal must take the components down) or by Ctrl-C (it stops the environment itself).
// Either way no component process and no listening port may be left behind.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const childScript = path.join(repoRoot, 'test/harness/crash-child.ts');

interface ChildReport {
  readonly dir: string;
  readonly pids: Record<string, number>;
  readonly ports: Record<string, number>;
}

interface Started {
  readonly child: ChildProcess;
  readonly report: ChildReport;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

const children: ChildProcess[] = [];
afterEach(() => {
  // A failed assertion must not leave the child (and through it the components) running.
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function startChild(args: string[] = []): Promise<Started> {
  // node + tsx's loader directly: an `npx tsx` wrapper would be a second process between the test and the
  // environment's owner, and SIGKILL of the wrapper would not reach the owner.
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const output = () => `stdout:\n${stdout}\nstderr:\n${stderr}`;
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  const line = await waitUntil(
    'the child to report its environment',
    () => (hasExited() ? 'exited' : stdout.split('\n').find((l) => l.startsWith('{'))),
    { timeoutMs: 90_000, intervalMs: 100 },
  );
  if (line === 'exited') throw new Error(`the child exited before reporting\n${output()}`);
  const report = JSON.parse(line) as ChildReport;
  return { child, report, exited, output };
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

async function expectNothingLeft(report: ChildReport): Promise<void> {
  await waitUntil(
    'every component process and process group to be gone',
    () => {
      const alive = Object.entries(report.pids).filter(
        ([, pid]) => processExists(pid) || processExists(-pid),
      );
      if (alive.length) throw new Error(`still running: ${alive.map(([n, p]) => `${n} (${p})`).join(', ')}`);
      return true;
    },
    { timeoutMs: 20_000 },
  );
  await waitUntil(
    'every component port to refuse connections',
    async () => {
      const open: string[] = [];
      for (const [name, port] of Object.entries(report.ports))
        if (await isListening(port)) open.push(`${name}:${port}`);
      if (open.length) throw new Error(`still listening: ${open.join(', ')}`);
      return true;
    },
    { timeoutMs: 20_000 },
  );
}

describe('an environment whose owner dies', () => {
  it('is gone entirely after SIGKILL of the owner', async () => {
    const { child, report, exited } = await startChild();
    expect(Object.keys(report.pids).sort()).toEqual(['alertmanager', 'postgres', 'prometheus', 'redis']);
    for (const [name, port] of Object.entries(report.ports)) {
      expect(await isListening(port), `${name} listens before the kill`).toBe(true);
    }
    for (const pid of Object.values(report.pids)) expect(processExists(pid)).toBe(true);

    child.kill('SIGKILL');
    expect(await exited).toEqual({ code: null, signal: 'SIGKILL' });
    await expectNothingLeft(report);
  });

  it('is stopped cleanly on Ctrl-C (SIGINT): exit 130, run directory removed', async () => {
    const { child, report, exited, output } = await startChild(['--stop-on-signals']);
    for (const pid of Object.values(report.pids)) expect(processExists(pid)).toBe(true);

    child.kill('SIGINT');
    const exit = await exited;
    expect(exit, output()).toEqual({ code: 130, signal: null });
    await expectNothingLeft(report);
    expect(existsSync(report.dir)).toBe(false);
  });
});
