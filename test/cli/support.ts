import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Builds the plugin with cli/build.mjs into a directory outside the repository and copies nothing else
 * there: the bundle must run on its own.
 */
export async function buildPlugin(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubectl-novapos-'));
  const out = path.join(dir, 'bin', 'kubectl-novapos');
  await new Promise<void>((resolve, reject) =>
    execFile(
      process.execPath,
      [path.join(repoRoot, 'cli/build.mjs'), out],
      { cwd: repoRoot },
      (err, _o, stderr) => (err ? reject(new Error(`cli/build.mjs: ${stderr || err.message}`)) : resolve()),
    ),
  );
  return out;
}

/** A copy of the bundle alone in a fresh directory, for the "runs without the repository" check. */
export function copyAlone(bundle: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubectl-novapos-alone-'));
  const out = path.join(dir, 'kubectl-novapos');
  cpSync(bundle, out);
  return out;
}

/**
 * Runs the plugin as a process, as kubectl would (argv after the plugin name), with KUBECONFIG pointing at
 * the given file and no terminal: stdout and stderr are pipes.
 */
export function runPlugin(
  bundle: string,
  args: readonly string[],
  opts: {
    kubeconfig?: string;
    env?: Record<string, string>;
    input?: string;
    cwd?: string;
    timeoutMs?: number;
  } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bundle, [...args], {
      cwd: opts.cwd ?? path.dirname(bundle),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}),
        ...opts.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Runs the plugin under a pseudo terminal (util-linux `script`), for colour and --watch redraws; stops it
 * once `until` holds for what it printed, or after `timeoutMs`.
 */
export function runInTerminal(
  bundle: string,
  args: readonly string[],
  opts: {
    kubeconfig: string;
    until: (out: string) => boolean;
    onOutput?: (out: string) => void;
    timeoutMs?: number;
  },
): Promise<string> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [bundle, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        KUBECONFIG: opts.kubeconfig,
        TERM: 'xterm-256color',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    const stop = () => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      stop();
      reject(
        new Error(`the plugin under a terminal did not print what was expected in time; it printed:\n${out}`),
      );
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (c) => {
      out += c;
      opts.onOutput?.(out);
      if (opts.until(out)) {
        stop();
        resolve(out);
      }
    });
    child.on('error', reject);
  });
}

export const KREW_VERSION = 'v0.4.3';

/**
 * krew, built from the Go module proxy into the harness's binary cache (outside the repository) the first
 * time, as test/bins builds the other real components.
 */
export async function krewBinary(): Promise<string> {
  const cache =
    process.env.NOVAPOS_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? '/root', '.cache'), 'novapos');
  const bin = path.join(cache, 'bin', `krew-${KREW_VERSION}`);
  const krew = path.join(bin, 'krew');
  if (existsSync(krew)) return krew;
  await new Promise<void>((resolve, reject) =>
    execFile(
      'go',
      ['install', `sigs.k8s.io/krew/cmd/krew@${KREW_VERSION}`],
      {
        env: {
          ...process.env,
          GOBIN: bin,
          GOTOOLCHAIN: 'local',
          GOFLAGS: '-mod=mod',
          GOCACHE: process.env.GOCACHE ?? path.join(cache, 'go-build'),
        },
        timeout: 600_000,
      },
      (err, _o, stderr) => (err ? reject(new Error(`go install krew: ${stderr || err.message}`)) : resolve()),
    ),
  );
  return krew;
}

/** Runs the plugin with piped output until `until` holds for its stdout (for --watch when piped). */
export function runPipedUntil(
  bundle: string,
  args: readonly string[],
  opts: {
    kubeconfig: string;
    until: (out: string) => boolean;
    onOutput?: (out: string) => void;
    timeoutMs?: number;
  },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bundle, [...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', KUBECONFIG: opts.kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`the plugin did not print what was expected in time; it printed:\n${out}`));
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (c) => {
      out += c;
      opts.onOutput?.(out);
      if (opts.until(out)) {
        clearTimeout(timer);
        child.kill('SIGTERM');
        resolve(out);
      }
    });
    child.on('error', reject);
  });
}
