import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectPostgres } from '../../lib/service-kit/db.js';
import { VaultClient } from '../../lib/vault.js';
import { PasswordHasher } from '../../services/auth-service/src/domain/passwords.js';
import { AuthRepository } from '../../services/auth-service/src/storage/repo.js';
import {
  aSigningKey,
  readOnlyToken,
  type TestSigningKey,
  uniquePrefix,
  writeKeyTree,
} from '../auth-service/helpers.js';
import { type KafkaInstance, kafkaEnv } from '../harness/components/kafka.js';
import type { VaultInstance } from '../harness/components/vault.js';
import { freePort } from '../harness/ports.js';
import { ManagedProcess } from '../harness/process.js';

/** The real service processes (their main.ts, as the image runs them) for the event-path suites. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface AuthProcess {
  readonly proc: ManagedProcess;
  readonly url: string;
  readonly adminUrl: string;
}

export interface AuthKeys {
  readonly key: TestSigningKey;
  readonly base: string;
  readonly serviceToken: string;
}

/** A signing key tree in OpenBao and a least-privilege token for auth-service (keys + its transit key). */
export async function authKeys(vault: VaultInstance, label: string): Promise<AuthKeys> {
  const root = new VaultClient({ addr: vault.addr, auth: { method: 'token', token: vault.rootToken } });
  const base = uniquePrefix(label);
  const key = await aSigningKey('ES256');
  await writeKeyTree(root, base, { keys: [{ key, state: 'active' }], activeKid: key.kid });
  return { key, base, serviceToken: await readOnlyToken(root, vault.rootToken, base) };
}

export { kafkaEnv };

/** auth-service's main.ts as a process of its own (so it can be SIGKILLed mid-request). */
export async function startAuthProcess(
  logDir: string,
  env: {
    databaseUrl: string;
    vault: VaultInstance;
    keys: AuthKeys;
    kafka: KafkaInstance;
    extra?: Record<string, string>;
  },
  name = 'auth-service',
): Promise<AuthProcess> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const proc = await ManagedProcess.start(
    {
      name,
      command: process.execPath,
      args: ['--import', 'tsx', 'services/auth-service/src/main.ts'],
      cwd: repoRoot,
      env: {
        HOST: '127.0.0.1',
        PORT: String(port),
        ADMIN_PORT: String(adminPort),
        ADMIN_HOST: '127.0.0.1',
        DATABASE_URL: env.databaseUrl,
        VAULT_ADDR: env.vault.addr,
        VAULT_TOKEN: env.keys.serviceToken,
        SIGNING_KEYSET_PATH: env.keys.base,
        SIGNING_KEYSET_POLL_SECONDS: '3600',
        ARGON2_MEMORY_KIB: '8192',
        ARGON2_TIME_COST: '1',
        ...kafkaEnv(env.kafka, 'auth-service'),
        ...env.extra,
      },
      ready: async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.ok ?? false,
      readyTimeoutMs: 60_000,
    },
    logDir,
  );
  return { proc, url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}` };
}

/** A tenant and a user (argon2 at the tests' low cost) written straight into auth-service's database. */
export async function seedUser(
  databaseUrl: string,
  u: { tenant: string; email: string; password: string; roles?: string[] },
): Promise<string> {
  const db = connectPostgres(databaseUrl, { max: 1 });
  try {
    const repo = new AuthRepository(db);
    await repo.createTenant(u.tenant, u.tenant);
    const hasher = new PasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1 });
    const id = await repo.createUser({
      tenantId: u.tenant,
      email: u.email,
      passwordHash: await hasher.hash(u.password),
      roles: u.roles ?? ['cashier'],
    });
    if (!id) throw new Error(`user ${u.email} exists already`);
    return id;
  } finally {
    await db.close();
  }
}

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
