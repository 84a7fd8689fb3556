/**
 * Ctrl-C and `kill` for a process that owns an environment: the first SIGINT/SIGTERM runs `stop` and exits
 * 130/143 (the shell's 128 + signal number); a second one exits at once, and the exit hook in process.ts
 * then SIGKILLs whatever is still running.
 */
export function stopOnSignals(stop: () => Promise<void>, log: (line: string) => void = () => {}): void {
  let stopping = false;
  const codes = { SIGINT: 130, SIGTERM: 143 } as const;
  for (const signal of Object.keys(codes) as (keyof typeof codes)[]) {
    process.on(signal, () => {
      if (stopping) {
        log(`${signal} again: exiting now`);
        process.exit(codes[signal]);
      }
      stopping = true;
      log(`${signal}: stopping`);
      stop().then(
        () => process.exit(codes[signal]),
        (err: unknown) => {
          log(`stop failed: ${(err as Error).message}`);
          process.exit(codes[signal]);
        },
      );
    });
  }
}
