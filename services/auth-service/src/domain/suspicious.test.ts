import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../lib/log.js';
import { SuspiciousLoginDetector, SuspiciousWebhook } from './suspicious.js';

describe('suspicious-login rules', () => {
  it('ip_many_accounts fires when one IP fails on N distinct accounts within the window', () => {
    const clock = { ms: 0 };
    const d = new SuspiciousLoginDetector(
      { failuresBeforeSuccess: 3, distinctAccountsPerIp: 3, windowSeconds: 60 },
      () => clock.ms,
    );
    expect(d.onFailure('1.1.1.1', 'a')).toBeUndefined();
    expect(d.onFailure('1.1.1.1', 'a')).toBeUndefined();
    expect(d.onFailure('1.1.1.1', 'b')).toBeUndefined();
    expect(d.onFailure('2.2.2.2', 'c')).toBeUndefined();
    clock.ms = 61_000; // a and b age out
    expect(d.onFailure('1.1.1.1', 'c')).toBeUndefined();
    expect(d.onFailure('1.1.1.1', 'd')).toBeUndefined();
    expect(d.onFailure('1.1.1.1', 'e')).toEqual({ rule: 'ip_many_accounts', accounts: 3 });
  });

  it('success_after_failures fires from N previous failures', () => {
    const d = new SuspiciousLoginDetector({
      failuresBeforeSuccess: 3,
      distinctAccountsPerIp: 3,
      windowSeconds: 60,
    });
    expect(d.onSuccess(2)).toBeUndefined();
    expect(d.onSuccess(3)).toEqual({ rule: 'success_after_failures', failures: 3 });
  });
});

describe('suspicious-login webhook rate limit', () => {
  const alert = {
    rule: 'success_after_failures' as const,
    tenant: 't',
    userId: 'u',
    ip: '1.1.1.1',
    deviceFingerprint: 'f',
    traceId: 'x',
    detail: {},
  };

  function aWebhook(clock: { ms: number }, calls: RequestInit[]) {
    return new SuspiciousWebhook({
      url: 'http://hook.test/x',
      bearer: 'b',
      minIntervalSeconds: 300,
      maxPerMinute: 2,
      logger: createLogger({ component: 'test', level: 'silent' }),
      now: () => clock.ms,
      fetch: (async (_url: string, init: RequestInit) => {
        calls.push(init);
        return new Response('ok');
      }) as unknown as typeof fetch,
    });
  }

  it('sends once per rule and subject per interval, and caps the rate overall', async () => {
    const clock = { ms: 0 };
    const calls: RequestInit[] = [];
    const w = aWebhook(clock, calls);
    expect((await w.notify(alert)).result).toBe('sent');
    expect((await w.notify(alert)).result).toBe('suppressed');
    expect((await w.notify({ ...alert, userId: 'v' })).result).toBe('sent');
    expect((await w.notify({ ...alert, userId: 'w' })).result).toBe('suppressed'); // 2 per minute
    clock.ms = 301_000;
    expect((await w.notify(alert)).result).toBe('sent');
    expect(calls).toHaveLength(3);
    expect((calls[0]!.headers as Record<string, string>)['authorization']).toBe('Bearer b');
  });
});
