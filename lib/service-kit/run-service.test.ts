import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { runService } from './run-service.js';

// A process stand-in: signals are events, exit records its code. The service itself is real code paths.
function fakeProcess() {
  const proc = new EventEmitter() as EventEmitter & { exitCode?: number; exit(code: number): void };
  const exited = new Promise<number>((resolve) => {
    proc.exit = (code: number) => resolve(code);
  });
  return { proc: proc as unknown as NodeJS.Process, exited };
}
const quietLogger = () =>
  createLogger({ component: 'test', destination: new Writable({ write: (_c, _e, done) => done() }) });

describe('runService', () => {
  it('closes the service on SIGTERM and exits 0', async () => {
    const { proc, exited } = fakeProcess();
    let closed = false;
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    runService(
      {
        component: 'test',
        configure: () => ({ port: 1 }),
        start: async () => {
          started();
          return {
            logger: quietLogger(),
            close: async () => {
              closed = true;
            },
          };
        },
      },
      proc,
    );
    await running;
    await new Promise((r) => setImmediate(r));
    proc.emit('SIGTERM');
    expect(await exited).toBe(0);
    expect(closed).toBe(true);
  });

  it('exits 2 on an invalid configuration and 1 when start fails', async () => {
    const invalid = fakeProcess();
    runService(
      {
        component: 'test',
        configure: () => {
          throw Object.assign(new Error('PORT=x: must be a port number'), { code: 'invalid_config' });
        },
        start: async () => ({ logger: quietLogger(), close: async () => {} }),
      },
      invalid.proc,
    );
    expect(await invalid.exited).toBe(2);

    const failing = fakeProcess();
    runService(
      { component: 'test', configure: () => ({}), start: () => Promise.reject(new TypeError('boom')) },
      failing.proc,
    );
    expect(await failing.exited).toBe(1);
  });

  it('exits 1 when close hangs past the shutdown timeout', async () => {
    const { proc, exited } = fakeProcess();
    runService(
      {
        component: 'test',
        configure: () => ({}),
        start: async () => ({ logger: quietLogger(), close: () => new Promise<void>(() => {}) }),
        shutdownTimeoutMs: 50,
      },
      proc,
    );
    await new Promise((r) => setTimeout(r, 10));
    proc.emit('SIGINT');
    expect(await exited).toBe(1);
  });
});
