import { describe, expect, it } from 'vitest';
import { kafkaConfigFromEnv, toEnvelope } from './kafka-events.js';

describe('toEnvelope', () => {
  it('keeps identifiers and correlation fields and drops every secret-looking field', () => {
    const e = toEnvelope(
      {
        type: 'mfa_recovery_used',
        trace_id: 't',
        tenant_id: 'acme',
        user_id: 'u1',
        actor_role: 'admin',
        outcome: 'success',
        key_prefix: 'npk_ab12',
        api_key_id: 'k1',
        error_code: 'E1',
        password: 'p',
        mfa_code: '123456',
        recovery_code: 'rc',
        code: '1',
        refresh_token: 'rt',
        nested: { client_secret: 's', authorization: 'Bearer x', ok: 1 },
      },
      'auth-service',
      new Date('2026-12-03T00:00:00Z'),
    );
    expect(e).toMatchObject({
      type: 'mfa_recovery_used',
      schema_version: 1,
      producer: 'auth-service',
      producer_seq: null,
      trace_id: 't',
      tenant_id: 'acme',
      user_id: 'u1',
      actor_role: 'admin',
      outcome: 'success',
      occurred_at: '2026-12-03T00:00:00.000Z',
      data: { key_prefix: 'npk_ab12', api_key_id: 'k1', error_code: 'E1', nested: { ok: 1 } },
    });
    expect(JSON.stringify(e)).not.toMatch(/123456|"rc"|"rt"|Bearer|password|"s"/);
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('kafkaConfigFromEnv', () => {
  it('is undefined without KAFKA_BOOTSTRAP, and never shows the password in an error', () => {
    expect(kafkaConfigFromEnv({})).toBeUndefined();
    expect(() => kafkaConfigFromEnv({ KAFKA_BOOTSTRAP: 'k:9092' })).toThrow(/KAFKA_USERNAME is required/);
    expect(() =>
      kafkaConfigFromEnv({ KAFKA_BOOTSTRAP: 'k:9092', KAFKA_USERNAME: 'a', KAFKA_SASL_MECHANISM: 'nope' }),
    ).toThrow(/KAFKA_PASSWORD/);
    expect(() =>
      kafkaConfigFromEnv({ KAFKA_BOOTSTRAP: 'not a host', KAFKA_USERNAME: 'a', KAFKA_PASSWORD: 'sekrit' }),
    ).toThrow(/host:port/);
    expect(
      kafkaConfigFromEnv({
        KAFKA_BOOTSTRAP: 'a:1, b:2',
        KAFKA_USERNAME: 'auth-service',
        KAFKA_PASSWORD: 'pw',
      }),
    ).toEqual({
      bootstrap: ['a:1', 'b:2'],
      username: 'auth-service',
      password: 'pw',
      mechanism: 'SCRAM-SHA-256',
    });
  });
});
