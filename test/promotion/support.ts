import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../../lib/log.js';
import { VaultClient } from '../../lib/vault.js';
import { type ControllerFactory, Manager } from '../../operator/src/runtime/index.js';

/** A JSON logger whose lines are kept in memory, so a test can scan them for secret values. */
export function capturedLogger(level = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      if (process.env.PROMOTION_TEST_LOGS) process.stderr.write(chunk);
      cb();
    },
  });
  return { log: createLogger({ component: 'operator', level, destination }), lines };
}

/** The operator's manager, in this process, with one controller and a log kept in memory. */
export async function startOperator(kubeconfigPath: string, factory: ControllerFactory) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const { log, lines } = capturedLogger();
  const manager = new Manager({
    kubeConfig,
    log,
    identity: `promotion-test-${process.pid}`,
    leaderElection: false,
    metricsPort: 0,
    bindAddress: '127.0.0.1',
    backoff: { baseMs: 200, maxMs: 5_000 },
    resyncPeriodMs: 60_000,
    shutdownTimeoutMs: 5_000,
  });
  manager.register(factory);
  await manager.start();
  return { manager, lines };
}

/** A root-token client for test setup and for checking what Vault holds (never given to the operator). */
export const rootClient = (v: { addr: string; rootToken: string }) =>
  new VaultClient({ addr: v.addr, auth: { method: 'token', token: v.rootToken } });

async function vaultCall(
  v: { addr: string; rootToken: string },
  method: string,
  path: string,
  body?: unknown,
) {
  const res = await fetch(`${v.addr}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': v.rootToken, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/**
 * A least-privilege token: writes a policy with `rules` (HCL) and creates a token holding only it (plus
 * Vault's default policy, which grants no secret paths).
 */
export async function leastPrivilegeToken(
  v: { addr: string; rootToken: string },
  policyName: string,
  rules: string,
): Promise<string> {
  await vaultCall(v, 'PUT', `sys/policies/acl/${policyName}`, { policy: rules });
  const created = await vaultCall(v, 'POST', 'auth/token/create', { policies: [policyName], ttl: '2h' });
  return (created.auth as { client_token: string }).client_token;
}

export async function deletePolicy(
  v: { addr: string; rootToken: string },
  policyName: string,
): Promise<void> {
  await vaultCall(v, 'DELETE', `sys/policies/acl/${policyName}`).catch(() => {});
}

/** Read-only on a tree of KV v2 secrets (data + metadata, list). */
export const readOnlyRules = (tree: string) => `
path "secret/data/${tree}/*" { capabilities = ["read"] }
path "secret/metadata/${tree}/*" { capabilities = ["read", "list"] }
path "secret/metadata/${tree}" { capabilities = ["list"] }
`;

/** Read and write on a tree of KV v2 secrets, including custom_metadata and soft delete; nothing else. */
export const writeRules = (tree: string) => `
path "secret/data/${tree}/*" { capabilities = ["create", "update", "read"] }
path "secret/metadata/${tree}/*" { capabilities = ["create", "update", "read", "list"] }
path "secret/delete/${tree}/*" { capabilities = ["update"] }
`;

/** A unique run prefix: every path this suite writes lives under it. */
export const runPrefix = (label: string) => `${label}-${process.pid}-${randomBytes(3).toString('hex')}`;
