import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeError } from '../../lib/errors.js';
import { waitUntil } from './wait.js';

export interface ProcessSpec {
  /** Short name used in logs and errors: `redis`, `kube-apiserver`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Run as this user when the harness runs as root (PostgreSQL refuses to run as root). */
  readonly runAs?: string;
  /** Resolves true once the component serves; polled until `readyTimeoutMs`. */
  readonly ready: () => Promise<boolean>;
  /** Default 30 s. */
  readonly readyTimeoutMs?: number;
}

const running = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last line of defence when the owning process exits without stopping its components (an uncaught
  // error, process.exit in a test). A SIGKILLed owner is covered by the parent-death signal instead.
  process.on('exit', () => {
    for (const proc of running) proc.killGroupNow('SIGKILL');
  });
}

const hasSetpriv = (() => {
  try {
    execFileSync('setpriv', ['--help'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A real server process started by the harness, with its output captured to a file and a ring buffer. */
export class ManagedProcess {
  private readonly recent: string[] = [];
  private exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;

  private constructor(
    readonly spec: ProcessSpec,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    const log = createWriteStream(logFile, { flags: 'a' });
    const capture = (chunk: Buffer) => {
      // A grandchild can still hold the pipes after the leader exited: never write to an ended log.
      if (!log.writableEnded) log.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        this.recent.push(line);
        if (this.recent.length > 200) this.recent.shift();
      }
    };
    child.stdout?.on('data', capture);
    child.stderr?.on('data', capture);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? null : 0);
        running.delete(this);
        resolve(this.exitCode);
      });
      // The log ends once the output pipes are closed, so the last lines written at exit are kept.
      child.once('close', () => log.end());
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get name(): string {
    return this.spec.name;
  }

  get isRunning(): boolean {
    return this.exitCode === undefined;
  }

  /** Starts the process and waits until it is ready; on failure the error carries the log tail. */
  static async start(spec: ProcessSpec, logDir: string): Promise<ManagedProcess> {
    installExitHook();
    mkdirSync(logDir, { recursive: true });
    const logFile = path.join(logDir, `${spec.name}.log`);
    const asUser = spec.runAs && process.getuid?.() === 0 ? spec.runAs : undefined;
    // setpriv --pdeathsig: the kernel kills the component when the process that started it dies,
    // even by SIGKILL, so a crashed test run leaves nothing behind.
    const prefix = hasSetpriv
      ? [
          'setpriv',
          '--pdeathsig',
          'KILL',
          ...(asUser ? ['--reuid', asUser, '--regid', asUser, '--init-groups'] : []),
          '--',
        ]
      : [];
    const [command, ...args] = [...prefix, spec.command, ...spec.args];
    const child = spawn(command!, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: stop() reaches its children too
    });
    const proc = new ManagedProcess(spec, child, logFile);
    running.add(proc);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err) =>
        reject(new Error(`${spec.name}: cannot start ${spec.command}: ${err.message}`)),
      );
    });
    try {
      // A component that exits while starting fails the start at once, not at the ready timeout.
      await waitUntil(`${spec.name} to become ready`, async () => !proc.isRunning || (await spec.ready()), {
        timeoutMs: spec.readyTimeoutMs ?? 30_000,
        intervalMs: 100,
      });
      if (!proc.isRunning) {
        // Its last words may still be in the pipe: let stdout/stderr drain before the log tail is read.
        const drained = () => (child.stdout?.closed ?? true) && (child.stderr?.closed ?? true);
        await waitUntil('its output to drain', drained, { timeoutMs: 1000, intervalMs: 20 }).catch(() => {});
        throw new Error(`${spec.name} exited with code ${proc.exitCode} before it was ready`);
      }
    } catch (err) {
      await proc.stop();
      throw new Error(`${describeError(err)}\n--- last lines of ${logFile} ---\n${proc.logTail(40)}`);
    }
    return proc;
  }

  logTail(lines = 60): string {
    return this.recent.slice(-lines).join('\n');
  }

  killGroupNow(signal: NodeJS.Signals): void {
    if (!this.isRunning || !this.child.pid) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process has exited. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.isRunning) return;
    this.killGroupNow('SIGTERM');
    const timer = setTimeout(() => this.killGroupNow('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    // The leader is gone; take any child it left behind with it.
    if (this.child.pid) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // nothing left
      }
    }
  }

  /** Kills without warning, as a crash would. */
  async crash(): Promise<void> {
    this.killGroupNow('SIGKILL');
    await this.exited;
  }
}

const harnessRoot = path.join(os.tmpdir(), 'novapos-harness');

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A fresh working directory for one environment, named after the owning pid. Directories left by owners
 * that no longer run (a killed test process) are removed here, so crashed runs do not pile up.
 */
export function makeRunDir(label: string): string {
  mkdirSync(harnessRoot, { recursive: true, mode: 0o755 });
  for (const entry of readdirSync(harnessRoot)) {
    const owner = Number(entry.split('-')[0]);
    if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
      rmSync(path.join(harnessRoot, entry), { recursive: true, force: true });
    }
  }
  const dir = path.join(harnessRoot, `${process.pid}-${label}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(path.join(dir, 'owner.pid'), String(process.pid));
  return dir;
}

export function removeRunDir(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

/** Pids of every component still running in this process (used by the crash test). */
export function runningPids(): number[] {
  return [...running].map((p) => p.pid);
}
