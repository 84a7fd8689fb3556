import { describeError } from '../../lib/errors.js';

/**
 * Ctrl-C and `kill` for a process that owns an environment: the first SIGINT/SIGTERM runs `stop` and exits
 * 130/143 (the shell's 128 + signal number). A second signal more than a second later exits at once, and the
 * exit hook in process.ts then SIGKILLs whatever is still running. Repeats within that second are ignored:
 * one Ctrl-C under `npm start` reaches this process from the terminal and again from npm and tsx.
 */
export function stopOnSignals(stop: () => Promise<void>, log: (line: string) => void = () => {}): void {
  let firstAt: number | undefined;
  const codes = { SIGINT: 130, SIGTERM: 143 } as const;
  for (const signal of Object.keys(codes) as (keyof typeof codes)[]) {
    process.on(signal, () => {
      if (firstAt !== undefined) {
        if (Date.now() - firstAt < 1000) return;
        log(`${signal} again: exiting now`);
        process.exit(codes[signal]);
      }
      firstAt = Date.now();
      log(`${signal}: stopping`);
      stop().then(
        () => process.exit(codes[signal]),
        (err: unknown) => {
          log(`stop failed: ${describeError(err)}`);
          process.exit(codes[signal]);
        },
      );
    });
  }
}
