import { createInterface } from 'node:readline/promises';
import { parseDuration } from '../../lib/duration.js';
import type { Progress } from './decide/trigger.js';
import { CliError, ExitCode } from './errors.js';
import { humanDuration } from './format.js';
import { KubeClient } from './kube.js';
import { formatData, type OutputFormat, parseOutputFormat } from './output.js';
import { ansi, plain, type Style, wantsColor } from './style.js';

/** Global flags, as commander hands them over. */
export interface GlobalOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
  readonly allNamespaces?: boolean;
  readonly as?: string;
  readonly asGroup?: string[];
  readonly output?: string;
  readonly color?: boolean;
  readonly requestTimeout?: string;
}

/** The process's streams and clock, passed in so verbs can be driven by tests. */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export const processIo: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  now: () => new Date(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** `90s`, `5m`, `1h30m` → milliseconds, by the Go-style syntax the resources use (lib/duration.ts). */
export function parseDurationFlag(value: string, flag: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new CliError(
      `${flag} ${value} is not a duration`,
      ExitCode.usage,
      'write it like 90s, 5m or 1h30m',
    );
  }
}

/** What a verb needs: the cluster, the namespace, how to print. */
export class Session {
  readonly style: Style;
  readonly output: OutputFormat | undefined;
  private clientCache: KubeClient | undefined;

  constructor(
    readonly opts: GlobalOptions,
    readonly io: Io,
  ) {
    this.output = parseOutputFormat(opts.output);
    this.style = wantsColor(!!io.stdout.isTTY, io.env, opts.color) ? ansi : plain;
  }

  get client(): KubeClient {
    this.clientCache ??= KubeClient.connect({
      kubeconfig: this.opts.kubeconfig,
      context: this.opts.context,
      namespace: this.opts.namespace,
      as: this.opts.as,
      asGroups: this.opts.asGroup,
      requestTimeoutMs: this.opts.requestTimeout
        ? parseDurationFlag(this.opts.requestTimeout, '--request-timeout')
        : undefined,
    });
    return this.clientCache;
  }

  get namespace(): string {
    return this.client.namespace;
  }

  print(text: string): void {
    this.io.stdout.write(text);
  }

  /** -o json|yaml prints the data; otherwise the human text. */
  emit(data: unknown, human: () => string): void {
    this.print(this.output ? formatData(data, this.output) : human());
  }

  /** Asks yes/no on a terminal; without one, --yes is required. */
  async confirm(question: string, yes: boolean | undefined): Promise<void> {
    if (yes) return;
    if (!this.io.stdin.isTTY)
      throw new CliError(
        'not confirmed: standard input is not a terminal',
        ExitCode.usage,
        'add --yes to confirm',
      );
    const rl = createInterface({ input: this.io.stdin, output: this.io.stderr });
    try {
      const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes')
        throw new CliError('not confirmed: nothing changed', ExitCode.refused);
    } finally {
      rl.close();
    }
  }

  /**
   * Polls `read` until `evaluate` says done, showing one progress line: rewritten in place on a terminal,
   * a new line per change when piped. Gives up after `timeoutMs` with exit code 6.
   */
  async waitFor<T, P extends Progress>(
    what: string,
    read: () => Promise<T>,
    evaluate: (obj: T, now: Date) => P,
    timeoutMs: number,
    intervalMs = 1000,
  ): Promise<{ progress: P; obj: T }> {
    const started = this.io.now().getTime();
    const tty = !!(this.io.stderr as { isTTY?: boolean }).isTTY;
    let last = '';
    const show = (line: string, final = false) => {
      const elapsed = humanDuration(this.io.now().getTime() - started);
      const text = `${what}: ${line}`;
      if (tty) this.io.stderr.write(`\r\x1b[2K${text} [${elapsed}]${final ? '\n' : ''}`);
      else if (text !== last) this.io.stderr.write(`${text}\n`);
      last = text;
    };
    for (;;) {
      const obj = await read();
      const progress = evaluate(obj, this.io.now());
      show(progress.line, progress.done);
      if (progress.done) return { progress, obj };
      if (this.io.now().getTime() - started >= timeoutMs) {
        if (tty) this.io.stderr.write('\n');
        throw new CliError(
          `gave up waiting after ${humanDuration(timeoutMs)}: ${progress.line}`,
          ExitCode.timeout,
          'the request stays in place; look with kubectl novapos status, or wait longer with --timeout',
        );
      }
      await this.io.sleep(intervalMs);
    }
  }
}
