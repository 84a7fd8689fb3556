import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from './errors.js';
import { parseDurationFlag } from './session.js';

describe('parseDurationFlag', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
  ])('reads %s as the resources would', (text, ms) => {
    expect(parseDurationFlag(text, '--timeout')).toBe(ms);
  });

  it.each(['', '2', '2d', '5 m', '-1m'])(
    'refuses %j as a usage error naming the flag, with a hint',
    (text) => {
      let thrown: unknown;
      try {
        parseDurationFlag(text, '--timeout');
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(CliError);
      expect(thrown).toMatchObject({
        message: `--timeout ${text} is not a duration`,
        exitCode: ExitCode.usage,
        fix: 'write it like 90s, 5m or 1h30m',
      });
    },
  );
});
