/**
 * Where the domain reads the time. Injected by the wiring (server.ts: the system clock), so lockout
 * windows, TOTP steps and token expiry are computed from one `now` a unit test can fix.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock standing at `epochMs` until moved: for unit tests of time rules. */
export function fixedClock(epochMs: number): Clock & { advance(ms: number): void } {
  let t = epochMs;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

export const epochSeconds = (clock: Clock): number => Math.floor(clock.now() / 1000);
