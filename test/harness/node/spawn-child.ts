/**
 * Starts test/harness/node/child.ts (a node that waits to be SIGKILLed) for the crash tests, run by node +
 * tsx's loader directly so a SIGKILL reaches the node's owner itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../wait.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const childScript = path.join(repoRoot, 'test/harness/node/child.ts');

export interface NodeChild {
  readonly c: ChildProcess;
  readonly exited: Promise<void>;
  stdout(): string;
  stderr(): string;
  /** stdout, then stderr after a `\nstderr:\n` line. */
  output(): string;
  /** The child's one JSON line once its node is up; throws with its stderr when it exits first. */
  report(timeoutMs?: number): Promise<string>;
}

/** `env` is added to this process's environment (e.g. NOVAPOS_NODE_CHILD_NETWORK_POLICY=1). */
export function spawnNodeChild(env: Record<string, string> = {}): NodeChild {
  const c = spawn(process.execPath, ['--import', 'tsx', childScript], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  c.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
  });
  c.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  const gone = () => c.exitCode !== null || c.signalCode !== null;
  return {
    c,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => `${stdout}\nstderr:\n${stderr}`,
    async report(timeoutMs = 240_000) {
      const line = await waitUntil(
        'the child to report a started node',
        () => (gone() ? 'exited' : stdout.split('\n').find((l) => l.startsWith('{'))),
        { timeoutMs, intervalMs: 200 },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\nchild stderr:\n${stderr.slice(-4000)}`);
      });
      if (line === 'exited')
        throw new Error(`the child exited before its node was up:\n${stderr.slice(-4000)}`);
      return line;
    },
  };
}
