import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { KafkaInstance } from '../harness/components/kafka.js';
import type { PostgresInstance } from '../harness/components/postgres.js';
import type { VaultInstance } from '../harness/components/vault.js';
import { ManagedProcess } from '../harness/process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The audit-service's database and Kafka settings, as principal `audit-service` (a config's or a process's env). */
export function auditServiceEnv(kafka: KafkaInstance, pgi: PostgresInstance): Record<string, string> {
  return {
    DATABASE_URL: pgi.url,
    KAFKA_BOOTSTRAP: kafka.bootstrap,
    KAFKA_USERNAME: kafka.services['audit-service'].username,
    KAFKA_PASSWORD: kafka.services['audit-service'].password,
  };
}

/** OpenBao's transit engine and the chain-head key (ed25519), as docs/audit-service.md has an operator make them. */
export async function createChainKey(vault: VaultInstance): Promise<void> {
  // 400: transit/ is mounted already.
  expect([200, 204, 400]).toContain(
    (await vault.request('POST', 'sys/mounts/transit', { type: 'transit' })).status,
  );
  expect(
    (await vault.request('POST', 'transit/keys/novapos-audit-chain', { type: 'ed25519' })).status,
  ).toBeLessThan(300);
}

/** The real audit-service process (main.ts), its admin listener on loopback `adminPort`; ready when /healthz answers. */
export function startAuditProcess(
  name: string,
  adminPort: number,
  env: Record<string, string>,
  logDir: string,
): Promise<ManagedProcess> {
  return ManagedProcess.start(
    {
      name,
      command: process.execPath,
      args: ['--import', 'tsx', 'services/audit-service/src/main.ts'],
      cwd: repoRoot,
      env: { ADMIN_PORT: String(adminPort), ADMIN_HOST: '127.0.0.1', ...env },
      ready: async () =>
        (await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => undefined))?.ok ?? false,
      readyTimeoutMs: 60_000,
    },
    logDir,
  );
}
