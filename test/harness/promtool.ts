import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PromtoolResult {
  readonly ok: boolean;
  readonly output: string;
}

/** Runs promtool with the given arguments; a non-zero exit is a result, not an exception. */
export async function promtool(args: readonly string[], cwd?: string): Promise<PromtoolResult> {
  try {
    const { stdout, stderr } = await run('promtool', [...args], { cwd, timeout: 60_000 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number | string };
    if (typeof e.code === 'number') return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    throw err;
  }
}
