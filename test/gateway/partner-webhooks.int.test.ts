import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { VaultClient } from '../../lib/vault.js';
import { signWebhook } from '../../services/integration-gateway/src/domain/partner-webhooks.js';
import { RedisWebhookReplay } from '../../services/integration-gateway/src/storage/webhook-stores.js';
import { privateRedisDb } from '../harness/env.js';
import {
  expectNoSecrets,
  metricValue,
  type RecordingUpstream,
  startRecordingUpstream,
  startTestGateway,
  type TestGateway,
} from './support.js';

/**
 * Partner webhooks at the gateway (issue 20, seed 001 "verify Coinbase webhooks ... emit partner activity"),
 * against the real gateway, OpenBao (the tenants' secrets, read with a token that may read only them), Redis
 * (replays) and a real upstream on loopback: a signed event is forwarded once and published on the audit
 * topic; forged, tampered, foreign, stale and replayed ones are refused with a stable code and counted.
 */
describe('integration-gateway: partner webhooks', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const tenant = `shop-${suffix}`;
  const other = `rival-${suffix}`;
  const unconfigured = `none-${suffix}`;
  const secret = `whsec_${randomBytes(24).toString('hex')}`;
  const previous = `whsec_${randomBytes(24).toString('hex')}`;
  const otherSecret = `whsec_${randomBytes(24).toString('hex')}`;
  const redisUrl = privateRedisDb(env.redisUrl, 4);
  let vaultToken: string;
  let upstream: RecordingUpstream;
  let gateway: TestGateway;
  let redis: Redis;
  let seq = 0;

  const event = (overrides: { id?: string; created_at?: string } = {}) =>
    Buffer.from(
      JSON.stringify({
        id: ++seq,
        scheduled_for: new Date().toISOString(),
        event: {
          id: overrides.id ?? `evt-${suffix}-${seq}`,
          type: 'charge:confirmed',
          api_version: '2018-03-22',
          created_at: overrides.created_at ?? new Date().toISOString(),
          data: { code: `CHG${seq}`, pricing: { local: { amount: '12.50', currency: 'USD' } } },
        },
      }),
    );
  const post = (path: string, body: Buffer, signature: string | undefined) =>
    fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(signature === undefined ? {} : { 'x-cc-webhook-signature': signature }),
      },
      body,
    });
  const deliver = (body: Buffer, key = secret, to = tenant) =>
    post(`/webhooks/coinbase/${to}`, body, signWebhook(body, key));
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  const outcomes = (outcome: string) =>
    metricValue(gateway.adminUrl, 'gateway_partner_webhooks_total', { partner: 'coinbase', outcome });
  const published = () =>
    gateway.logs
      .records()
      .filter((r) => r['msg'] === 'security_event' && r['type'] === 'partner_webhook_received');

  beforeAll(async () => {
    const vault = env.vaults[0];
    if (!vault) throw new Error('the shared environment has no OpenBao');
    const root = new VaultClient({ addr: vault.addr, auth: { method: 'token', token: vault.rootToken } });
    await root.kvWrite('secret', `novapos/partners/coinbase/${tenant}`, {
      webhook_secret: secret,
      previous_webhook_secret: previous,
    });
    await root.kvWrite('secret', `novapos/partners/coinbase/${other}`, { webhook_secret: otherSecret });
    // The gateway's token may read the partners' secrets and nothing else.
    const call = async (method: string, path: string, body: unknown) => {
      const res = await fetch(`${vault.addr}/v1/${path}`, {
        method,
        headers: { 'x-vault-token': vault.rootToken, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
      return res.status === 204 ? {} : ((await res.json()) as { auth?: { client_token?: string } });
    };
    await call('PUT', `sys/policies/acl/gateway-webhooks-${suffix}`, {
      policy: 'path "secret/data/novapos/partners/*" { capabilities = ["read"] }',
    });
    const created = await call('POST', 'auth/token/create', {
      policies: [`gateway-webhooks-${suffix}`],
      ttl: '1h',
    });
    vaultToken = created.auth?.client_token ?? '';
    expect(vaultToken).not.toBe('');

    upstream = await startRecordingUpstream();
    redis = new Redis(redisUrl);
    gateway = await startTestGateway({
      REDIS_URL: redisUrl,
      GATEWAY_UPSTREAM_URL: upstream.url,
      GATEWAY_UPSTREAM_TIMEOUT_MS: '2000',
      GATEWAY_REPLICA_ID: `gw-webhooks-${suffix}`,
      GATEWAY_WEBHOOK_PARTNERS: 'coinbase',
      GATEWAY_WEBHOOK_TOLERANCE_SECONDS: '300',
      GATEWAY_WEBHOOK_MAX_BYTES: '65536',
      VAULT_ADDR: vault.addr,
      VAULT_TOKEN: vaultToken,
    });
  });
  afterAll(async () => {
    expectNoSecrets(gateway?.logs.text ?? '', { secret, previous, otherSecret, vaultToken });
    await gateway?.close();
    await upstream?.close();
    redis?.disconnect();
  });

  it('forwards a signed event byte for byte to the upstream once, and publishes it on the audit topic', async () => {
    const body = event();
    const res = await deliver(body);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { received: boolean; event_id: string };
    expect(answer.received).toBe(true);
    const forwarded = upstream.received.filter((r) => r.url === `/webhooks/coinbase/${tenant}`);
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]?.body.equals(body)).toBe(true);
    expect(forwarded[0]?.headers['x-novapos-tenant']).toBe(tenant);
    expect(forwarded[0]?.headers['x-novapos-webhook-partner']).toBe('coinbase');

    const [record] = published().filter((r) => r['event_id'] === answer.event_id);
    expect(record).toMatchObject({
      topic: 'audit.events.v1',
      tenant_id: tenant,
      actor_role: 'partner',
      outcome: 'forwarded',
      partner: 'coinbase',
      event_type: 'charge:confirmed',
    });
    // Partner activity, without the body: amounts and codes stay with the upstream.
    expect(JSON.stringify(record)).not.toContain('12.50');
    expect(await outcomes('forwarded')).toBe(1);

    // The same request again (a captured one replayed): refused, not forwarded a second time.
    const again = await deliver(body);
    expect(again.status).toBe(409);
    expect(await errorCode(again)).toBe('webhook_replayed');
    expect(upstream.received.filter((r) => r.url === `/webhooks/coinbase/${tenant}`)).toHaveLength(1);
    // Remembered for twice the tolerance, under the tenant's hash tag.
    const eventId = answer.event_id;
    const ttl = await redis.pttl(RedisWebhookReplay.key('coinbase', tenant, eventId));
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
  });

  it('refuses a tampered body, a missing signature and a signature of another tenant, and counts them as signature failures', async () => {
    const before = await metricValue(gateway.adminUrl, 'gateway_signature_verification_failures_total', {});
    const forwardedBefore = upstream.received.length;

    const body = event();
    const tampered = Buffer.from(body.toString().replace('12.50', '99.99'));
    const r1 = await post(`/webhooks/coinbase/${tenant}`, tampered, signWebhook(body, secret));
    const r2 = await post(`/webhooks/coinbase/${tenant}`, body, undefined);
    // Signed correctly, but by a rival tenant's secret: a tenant cannot post as another.
    const r3 = await deliver(body, otherSecret, tenant);
    const r4 = await post(`/webhooks/coinbase/${tenant}`, body, 'not-hex');
    for (const r of [r1, r2, r3, r4]) {
      expect(r.status).toBe(401);
      expect(await errorCode(r)).toBe('webhook_signature_invalid');
    }
    expect(upstream.received.length).toBe(forwardedBefore);
    expect(await outcomes('signature_invalid')).toBe(3);
    expect(await outcomes('signature_missing')).toBe(1);
    // The runbook's "> 10 per minute" alert reads this counter.
    expect(await metricValue(gateway.adminUrl, 'gateway_signature_verification_failures_total', {})).toBe(
      before + 4,
    );
    // The rival's own secret still works for the rival.
    expect((await deliver(event(), otherSecret, other)).status).toBe(200);
  });

  it('accepts the previous secret during a rotation, and refuses stale or malformed events', async () => {
    expect((await deliver(event(), previous)).status).toBe(200);

    const stale = event({ created_at: new Date(Date.now() - 10 * 60_000).toISOString() });
    const r1 = await deliver(stale);
    expect(r1.status).toBe(400);
    expect(await errorCode(r1)).toBe('webhook_stale');
    const future = event({ created_at: new Date(Date.now() + 10 * 60_000).toISOString() });
    expect((await deliver(future)).status).toBe(400);

    const notJson = Buffer.from('{"event": ');
    const r2 = await deliver(notJson);
    expect(r2.status).toBe(400);
    expect(await errorCode(r2)).toBe('webhook_malformed');
    const noId = Buffer.from(JSON.stringify({ event: { type: 'charge:confirmed', created_at: new Date() } }));
    expect((await deliver(noId)).status).toBe(400);
  });

  it('answers unknown partners and paths with 404, unconfigured tenants like a bad signature, and bodies over the limit with 413', async () => {
    const body = event();
    for (const path of [
      `/webhooks/stripe/${tenant}`,
      `/webhooks/coinbase/${tenant}/extra`,
      `/webhooks/coinbase/UPPER`,
      '/webhooks/coinbase',
    ]) {
      const r = await post(path, body, signWebhook(body, secret));
      expect(r.status, path).toBe(404);
    }
    // A partner that is not configured never becomes a metric label.
    const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/partner="stripe"/);

    const r = await deliver(body, secret, unconfigured);
    expect(r.status).toBe(401);
    expect(await errorCode(r)).toBe('webhook_signature_invalid');
    expect(await outcomes('not_configured')).toBe(1);

    const get = await fetch(`${gateway.url}/webhooks/coinbase/${tenant}`);
    expect(get.status).toBe(405);

    const big = Buffer.alloc(70_000, 0x20);
    const tooLarge = await deliver(big);
    expect(tooLarge.status).toBe(413);
    expect(await errorCode(tooLarge)).toBe('payload_too_large');
  });

  it('takes the partner’s retry of an event the upstream failed: 502, then forwarded when the upstream is back', async () => {
    upstream.handler = (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(503).end());
    };
    const body = event();
    const failed = await deliver(body);
    expect(failed.status).toBe(502);
    expect(await errorCode(failed)).toBe('upstream_error');
    expect(await outcomes('upstream_error')).toBe(1);

    upstream.handler = undefined;
    const retried = await deliver(body);
    expect(retried.status).toBe(200);
  });
});
