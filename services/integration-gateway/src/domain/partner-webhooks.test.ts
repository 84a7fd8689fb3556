import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from './partner-webhooks.js';

const now = new Date('2026-12-03T12:00:00Z');
const body = (event: unknown) => Buffer.from(JSON.stringify({ id: 1, event }));
const good = body({ id: 'evt-1', type: 'charge:confirmed', created_at: '2026-12-03T11:58:00Z' });
const check = (b: Buffer, signature: string | undefined, secrets = ['s3cret-current']) =>
  verifyWebhook({ body: b, signature, secrets, now, toleranceSeconds: 300 });

describe('verifyWebhook', () => {
  it('accepts the hex HMAC-SHA256 of the raw body and returns the event', () => {
    expect(check(good, signWebhook(good, 's3cret-current'))).toEqual({
      eventId: 'evt-1',
      eventType: 'charge:confirmed',
      createdAt: new Date('2026-12-03T11:58:00Z'),
    });
    // Upper-case hex is the same digest.
    expect(check(good, signWebhook(good, 's3cret-current').toUpperCase())).toMatchObject({
      eventId: 'evt-1',
    });
  });

  it('accepts any of the secrets (the previous one during a rotation)', () => {
    expect(check(good, signWebhook(good, 'old'), ['new', 'old'])).toMatchObject({ eventId: 'evt-1' });
  });

  it('refuses a missing, malformed, foreign or stale signature before reading the body', () => {
    expect(check(good, undefined)).toBe('signature_missing');
    expect(check(good, '  ')).toBe('signature_missing');
    expect(check(good, 'zz')).toBe('signature_invalid');
    expect(check(good, signWebhook(good, 'other'))).toBe('signature_invalid');
    expect(check(good, `${signWebhook(good, 's3cret-current')}00`)).toBe('signature_invalid');
    const altered = Buffer.from(good.toString().replace('evt-1', 'evt-2'));
    expect(check(altered, signWebhook(good, 's3cret-current'))).toBe('signature_invalid');
    // Unsigned garbage is never parsed: a bad signature wins over a bad body.
    expect(check(Buffer.from('{'), 'a'.repeat(64))).toBe('signature_invalid');
  });

  it('refuses signed events without an id, type or time, and events outside the tolerance either way', () => {
    const signed = (e: unknown) => {
      const b = body(e);
      return check(b, signWebhook(b, 's3cret-current'));
    };
    expect(signed(undefined)).toBe('malformed_event');
    expect(signed({ type: 't', created_at: now.toISOString() })).toBe('malformed_event');
    expect(signed({ id: 'a/b', type: 't', created_at: now.toISOString() })).toBe('malformed_event');
    expect(signed({ id: 'e', created_at: now.toISOString() })).toBe('malformed_event');
    expect(signed({ id: 'e', type: 't', created_at: 'yesterday' })).toBe('malformed_event');
    expect(signed({ id: 'e', type: 't', created_at: '2026-12-03T11:54:59Z' })).toBe('stale_event');
    expect(signed({ id: 'e', type: 't', created_at: '2026-12-03T12:05:01Z' })).toBe('stale_event');
    expect(signed({ id: 'e', type: 't', created_at: '2026-12-03T11:55:00Z' })).toMatchObject({
      eventId: 'e',
    });
    const notJson = Buffer.from('not json');
    expect(check(notJson, signWebhook(notJson, 's3cret-current'))).toBe('malformed_event');
  });
});
