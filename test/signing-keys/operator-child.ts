/**
 * The operator as a separate process with only the SigningKeyRotation controller, for the tests that kill
 * it (kill -9) or break Vault under it. Logs go to stdout (the test scans them for key material).
 *
 * Env: KUBECONFIG; VAULT_ADDR + SKR_VAULT_ROLE + SKR_VAULT_MOUNT + SKR_VAULT_JWT_PATH (Kubernetes auth);
 * SKR_NAMESPACE (watched); SKR_TIMING (JSON, DecideOptions); NOVAPOS_CRASH_AT=<step>:<n>: exit(137) right
 * after the n-th step of that kind since start (generate, prepare-active, publish, sync-state, destroy,
 * status), before anything else happens: as if the process had been killed there.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import { VaultClient } from '../../lib/vault.js';
import { vaultSigningKeyStores } from '../../operator/src/adapters/vault/index.js';
import { signingKeyRotationController } from '../../operator/src/controllers/signing-key-rotation/index.js';
import { Manager } from '../../operator/src/runtime/index.js';

const env = process.env;
const log = createLogger({ component: 'operator', level: 'debug' });
const kc = new KubeConfig();
kc.loadFromFile(env.KUBECONFIG!);
const vault = new VaultClient({
  addr: env.VAULT_ADDR!,
  auth: {
    method: 'kubernetes',
    role: env.SKR_VAULT_ROLE!,
    jwtPath: env.SKR_VAULT_JWT_PATH!,
    mountPath: env.SKR_VAULT_MOUNT!,
  },
  timeoutMs: 2_000,
});

const [crashKind, crashNth] = (env.NOVAPOS_CRASH_AT ?? '').split(':');
const seen = new Map<string, number>();
const afterStep = (kind: string) => {
  const n = (seen.get(kind) ?? 0) + 1;
  seen.set(kind, n);
  if (kind === crashKind && n === Number(crashNth ?? 1)) {
    process.stderr.write(`operator-child: crashing after ${kind} #${n}\n`);
    process.exit(137);
  }
};

const manager = new Manager({
  kubeConfig: kc,
  log,
  identity: `skr-child-${process.pid}`,
  watchNamespaces: [env.SKR_NAMESPACE!],
  leaderElection: false,
  backoff: { baseMs: 200, maxMs: 3_000 },
  shutdownTimeoutMs: 3_000,
});
manager.register(
  signingKeyRotationController({
    vault: vaultSigningKeyStores(new Map([['local', vault]])),
    timing: JSON.parse(env.SKR_TIMING ?? '{}'),
    // The test's services listen on loopback ports chosen at run time.
    endpoints: { allowedOrigins: ['http://127.0.0.1:*'] },
    afterStep,
  }),
);
await manager.start();
process.once('SIGTERM', () => void manager.stop('signal'));
process.exit((await manager.done) === 'signal' ? 0 : 1);
