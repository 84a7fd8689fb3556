import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { VaultClient } from '../../lib/vault.js';
import { Annotations, type SigningKeyRotation } from '../../operator/src/api/index.js';
import { configFromEnv } from '../../services/auth-service/src/config.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { type RunningAuthService, startAuthService } from '../../services/auth-service/src/server.js';
import { sleep, waitUntil } from '../harness/wait.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import {
  aRotation,
  type InProcessOperator,
  leakedIn,
  readKeyTree,
  repoRoot,
  rotationIdentities,
  startInProcessOperator,
} from './support.js';

const VERIFIERS = 3;
const PASSWORD = 'Rotate-Under-Load-91!';
// Rotation every 25 s, published 6 s before; tokens live 15 s; verifiers cache the JWKS 4 s.
const SPEC = { rotationInterval: '25s', leadTime: '6s', maxTokenTTL: '15s', jwksCacheTTL: '4s' } as const;
const CACHE_MS = 4_000;
/** A revoked kid must be rejected by every verifier within the cache TTL, plus the 1 s refetch interval. */
const REVOKE_DEADLINE_MS = CACHE_MS + 1_500;
const ROTATIONS = Number(process.env.SKR_LOAD_ROTATIONS ?? 3);

interface Reply {
  id: number;
  ok: boolean;
  kid?: string;
  reason?: string;
}

class Verifier {
  private next = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Reply & { ready?: boolean }) => {
      if (m.ready) return;
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }
  verify(token: string): Promise<Reply> {
    const id = ++this.next;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ id, token });
    });
  }
}

async function aDatabase(postgresUrl: string): Promise<string> {
  const name = `skr_load_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * The real auth-service (Kubernetes auth to OpenBao, its least-privilege policy) signs tokens with the
 * active key while verifier processes check every fresh token against its JWKS, through several scheduled
 * rotations and one emergency revocation driven by the SigningKeyRotation controller.
 */
describe('signing keys: rotation under load', () => {
  const env = inject('env');
  const ns = `skr-load-${randomBytes(3).toString('hex')}`;
  const name = 'auth';
  const dir = mkdtempSync(path.join(tmpdir(), 'skr-load-'));
  const serviceLogs: string[] = [];
  let kubectl: Kubectl;
  let root: VaultClient;
  let operator: InProcessOperator;
  let svc: RunningAuthService;
  let verifiers: Verifier[] = [];
  const get = async () =>
    JSON.parse(
      await kubectl(['get', 'signingkeyrotation', name, '-n', ns, '-o', 'json']),
    ) as SigningKeyRotation;

  beforeAll(async () => {
    const kube = env.kube!;
    kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
    const v = env.vaults[0]!;
    root = new VaultClient({ addr: v.addr, auth: { method: 'token', token: v.rootToken } });
    const identities = await rotationIdentities(v, kube, { namespace: ns, name, dir });
    operator = await startInProcessOperator({
      kubeconfig: kube.kubeconfig,
      namespaces: [ns],
      vault: identities.operator.client,
      controller: {
        timing: {
          clockSkewMs: 2_000,
          servicePollMs: 1_000,
          serviceWaitPollMs: 200,
          serviceLoadTimeoutMs: 10_000,
        },
        // auth-service listens on a loopback port chosen at run time.
        endpoints: { allowedOrigins: ['http://127.0.0.1:*'] },
      },
    });
    await kubectl(['apply', '-f', '-'], JSON.stringify(aRotation(ns, name, SPEC)));
    await waitUntil('the first key', async () => (await get()).status?.activeKid);

    svc = await startAuthService(
      configFromEnv({
        PORT: '0',
        // A free admin port, never the default 9085: npm start's test forwards loopback 9085 meanwhile.
        ADMIN_PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        DATABASE_URL: await aDatabase(env.postgresUrl!),
        ...identities.authServiceEnv,
        SIGNING_KEYSET_PATH: `secret/novapos/signing-keys/${ns}/${name}`,
        SIGNING_KEYSET_POLL_SECONDS: '2',
        ACCESS_TOKEN_TTL_SECONDS: '900',
        ARGON2_MEMORY_KIB: '8192',
        ARGON2_TIME_COST: '1',
        AUTH_LOGIN_PER_IP_PER_MINUTE: '100000',
        AUTH_LOGIN_PER_ACCOUNT_PER_MINUTE: '100000',
        RATE_LIMIT_PER_IP_PER_MINUTE: '100000',
      }),
      {
        logDestination: new Writable({
          write(chunk, _e, cb) {
            serviceLogs.push(chunk.toString());
            cb();
          },
        }),
      },
    );
    await svc.repo.createTenant('load', 'load');
    const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    await svc.repo.createUser({
      tenantId: 'load',
      email: 'load@skr.test',
      passwordHash: await hasher.hash(PASSWORD),
      roles: ['user'],
    });
    await kubectl([
      'patch',
      'signingkeyrotation',
      name,
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { services: [{ name: 'auth-service', statusURL: `${svc.url}/keys/status` }] } }),
    ]);
    await waitUntil(
      'auth-service loaded and reported',
      async () => (await get()).status?.services?.[0]?.loaded === true,
    );

    const config = JSON.stringify({
      jwksUrl: `${svc.url}/.well-known/jwks.json`,
      issuer: 'https://auth.novapos.local',
      audience: 'novapos-api',
      maxCacheSeconds: 300,
    });
    verifiers = await Promise.all(
      Array.from({ length: VERIFIERS }, async () => {
        const child = fork(path.join(repoRoot, 'test/signing-keys/verifier-child.ts'), [config], {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        await new Promise<void>((resolve, reject) => {
          child.once('message', () => resolve());
          child.once('exit', (code) => reject(new Error(`verifier exited ${code}`)));
        });
        return new Verifier(child);
      }),
    );
  }, 180_000);

  afterAll(async () => {
    for (const v of verifiers) v.child.kill();
    await svc?.close();
    await operator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`no valid token is rejected across ${ROTATIONS} rotations and an emergency revocation; the revoked kid is rejected within the cache TTL`, async () => {
    const started = Date.now();
    let stop = false;
    const pool: { token: string; kid: string; exp: number }[] = [];
    const counts = {
      issued: 0,
      verifications: 0,
      accepted: 0,
      revokedRejected: 0,
      revokedAcceptedInGrace: 0,
    };
    const rejectedValid: { kid: string; reason?: string; verifier: number; at: number }[] = [];
    const revokedAcceptedLate: { verifier: number; afterMs: number }[] = [];
    let revoked: { kid: string; at: number } | undefined;
    const revokedTokens: { token: string; kid: string; exp: number }[] = [];
    const lastRevokedAccept = new Map<number, number>();

    const verifyEverywhere = async (token: string, kid: string) => {
      await Promise.all(
        verifiers.map(async (v, i) => {
          const sentAt = Date.now();
          const r = await v.verify(token);
          counts.verifications++;
          if (revoked && kid === revoked.kid) {
            const after = sentAt - revoked.at;
            if (r.ok && after >= 0) lastRevokedAccept.set(i, Math.max(lastRevokedAccept.get(i) ?? 0, after));
            if (after < REVOKE_DEADLINE_MS) {
              if (r.ok) counts.revokedAcceptedInGrace++;
            } else if (r.ok) revokedAcceptedLate.push({ verifier: i, afterMs: after });
            else counts.revokedRejected++;
            return;
          }
          if (r.ok) counts.accepted++;
          else rejectedValid.push({ kid, reason: r.reason, verifier: i, at: sentAt - started });
        }),
      );
    };

    // Issuers: log in, and hand every fresh token to every verifier.
    const issuer = async () => {
      while (!stop) {
        const res = await fetch(`${svc.url}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-tenant-id': 'load' },
          body: JSON.stringify({ email: 'load@skr.test', password: PASSWORD }),
        });
        if (res.status !== 200) throw new Error(`login answered ${res.status}`);
        const token = String(((await res.json()) as { accessToken: string }).accessToken);
        const kid = String(decodeProtectedHeader(token).kid);
        counts.issued++;
        pool.push({ token, kid, exp: Number(decodeJwt(token).exp) * 1000 });
        if (pool.length > 400) pool.splice(0, pool.length - 400);
        await verifyEverywhere(token, kid);
      }
    };
    // Re-verification of older tokens that are still valid (2 s margin before exp), so retired keys are exercised.
    const reverifier = async () => {
      while (!stop) {
        const live = pool.filter((p) => p.exp - Date.now() > 2_000);
        // Tokens of the revoked kid are kept aside at revocation: at a high issue rate they would
        // otherwise leave the bounded pool before the deadline and nothing would test the rejection.
        const pickRevoked = revokedTokens.filter((p) => p.exp - Date.now() > 2_000);
        const from = pickRevoked.length && Math.random() < 0.5 ? pickRevoked : live;
        const p = from[Math.floor(Math.random() * from.length)];
        if (p) await verifyEverywhere(p.token, p.kid);
        await sleep(20);
      }
    };
    // Sampler: each key set written to Vault, and when auth-service reports it loaded.
    const sets = new Map<
      string,
      { activeKid: string; kids: string[]; writtenAt: number; loadedAt?: number }
    >();
    const sampler = async () => {
      while (!stop) {
        const doc = (await root.kvRead('secret', `novapos/signing-keys/${ns}/${name}/keyset`))?.data as
          | { keysetHash: string; activeKid: string; jwks: { keys: { kid: string }[] } }
          | undefined;
        if (doc && !sets.has(doc.keysetHash))
          sets.set(doc.keysetHash, {
            activeKid: doc.activeKid,
            kids: doc.jwks.keys.map((k) => k.kid),
            writtenAt: Date.now(),
          });
        const st = (await (await fetch(`${svc.url}/keys/status`)).json()) as { keysetHash: string | null };
        const s = st.keysetHash ? sets.get(st.keysetHash) : undefined;
        if (s && s.loadedAt === undefined) s.loadedAt = Date.now();
        await sleep(50);
      }
    };

    const activeKids = () => [...new Set([...sets.values()].map((s) => s.activeKid))];
    const loops = [issuer(), issuer(), issuer(), reverifier(), sampler()];
    try {
      // First rotation, then revoke the key it retired while tokens it signed are still valid.
      const first = (await get()).status!.activeKid!;
      await waitUntil('a rotation', () => activeKids().length >= 2 && activeKids().at(-1) !== first, {
        timeoutMs: 60_000,
        intervalMs: 50,
      });
      await sleep(1_500);
      const victim = first;
      expect(pool.some((p) => p.kid === victim && p.exp - Date.now() > REVOKE_DEADLINE_MS + 2_000)).toBe(
        true,
      );
      revokedTokens.push(...pool.filter((p) => p.kid === victim));
      revoked = { kid: victim, at: Date.now() };
      await kubectl([
        'annotate',
        '--overwrite',
        'signingkeyrotation',
        name,
        '-n',
        ns,
        `${Annotations.revokeKid}=${victim}`,
      ]);
      await waitUntil('the revoked kid out of the key set in Vault', async () => {
        const t = await readKeyTree(root, 'secret', ns, name);
        return !t.keyset?.jwks.keys.some((k) => k.kid === victim);
      });
      const revokedOutOfVaultMs = Date.now() - revoked.at;
      await waitUntil(`${ROTATIONS} rotations`, () => activeKids().length >= ROTATIONS + 1, {
        timeoutMs: ROTATIONS * 40_000,
        intervalMs: 200,
      });
      await sleep(2_000);
      stop = true;
      await Promise.all(loops);

      const elapsed = (Date.now() - started) / 1000;
      const delays = [...sets.values()]
        .filter((s) => s.loadedAt !== undefined)
        .map((s) => s.loadedAt! - s.writtenAt);
      const report = {
        seconds: Math.round(elapsed),
        tokensIssued: counts.issued,
        tokensPerSecond: Math.round(counts.issued / elapsed),
        verifications: counts.verifications,
        verificationsPerSecond: Math.round(counts.verifications / elapsed),
        accepted: counts.accepted,
        rejectedValid: rejectedValid.length,
        rotations: activeKids().length - 1,
        keySetsWritten: sets.size,
        revokedOutOfVaultMs,
        revokedRejectedAfterDeadline: counts.revokedRejected,
        revokedAcceptedInGrace: counts.revokedAcceptedInGrace,
        lastRevokedAcceptMsPerVerifier: Object.fromEntries(lastRevokedAccept),
        keysetWrittenToAuthServiceLoadedMs: {
          min: Math.min(...delays),
          max: Math.max(...delays),
          all: delays,
        },
      };
      process.stderr.write(`[signing-keys] rotation under load: ${JSON.stringify(report)}\n`);

      expect(rejectedValid, 'valid tokens rejected').toEqual([]);
      expect(revokedAcceptedLate, 'revoked tokens accepted after the cache TTL').toEqual([]);
      expect(counts.revokedRejected).toBeGreaterThan(0);
      expect(report.rotations).toBeGreaterThanOrEqual(ROTATIONS);
      expect(counts.issued).toBeGreaterThan(100);
      // Every key set the operator wrote reached auth-service (reload notification, 2 s poll as backstop).
      expect([...sets.values()].every((s) => s.loadedAt !== undefined)).toBe(true);
      // Tokens of every active key were verified (each rotation really carried traffic).
      const o = await get();
      expect(o.status?.services?.[0]).toMatchObject({ name: 'auth-service', loaded: true });
      // The revoked entry is kept in status for one retire window, then dropped; the annotation is recorded.
      expect(o.status?.lastHandled?.revokeKid).toBe(victim);
      expect(o.status?.keys?.find((k) => k.kid === victim)?.state ?? 'revoked').toBe('revoked');
    } finally {
      stop = true;
      await Promise.allSettled(loops);
    }
  }, 300_000);

  it('no private key material in operator or auth-service logs, status or Events', async () => {
    const secrets = operator.keys.privateValues();
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const events = await kubectl(['get', 'events.events.k8s.io', '-n', ns, '-o', 'json']);
    const status = JSON.stringify((await get()).status);
    expect(
      leakedIn(
        { operatorLogs: operator.lines.join('\n'), authServiceLogs: serviceLogs.join(''), status, events },
        secrets,
      ),
    ).toEqual([]);
  });
});
