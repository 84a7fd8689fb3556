import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { componentBinaries } from '../bins.js';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';

export interface VaultInstance {
  /** http://127.0.0.1:PORT */
  readonly addr: string;
  /** Root token: for test setup only; code under test gets a least-privilege token. */
  readonly rootToken: string;
  /** `undefined` when VAULT_ADDR pointed at an external server. */
  readonly process: ManagedProcess | undefined;
  /** Authenticated call to the HTTP API with the root token. */
  request<T = unknown>(method: string, apiPath: string, body?: unknown): Promise<VaultResponse<T>>;
  /** Stops the server and starts it again on the same address with the same storage, unsealed. */
  restart(): Promise<void>;
  /** Stops the server (for outage tests); `start()` brings it back. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  stop(): Promise<void>;
}

export interface VaultResponse<T> {
  readonly status: number;
  readonly body: T;
}

async function healthy(addr: string): Promise<boolean> {
  try {
    // 501 = not initialised, 503 = sealed: both mean the server answers.
    const res = await fetch(`${addr}/v1/sys/health`);
    return [200, 429, 472, 473, 501, 503].includes(res.status);
  } catch {
    return false;
  }
}

async function call<T>(
  addr: string,
  token: string | undefined,
  method: string,
  apiPath: string,
  body?: unknown,
): Promise<VaultResponse<T>> {
  const res = await fetch(`${addr}/v1/${apiPath.replace(/^\//, '')}`, {
    method,
    headers: { ...(token ? { 'x-vault-token': token } : {}), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/**
 * An OpenBao server (Vault API) on loopback. Not `-dev`: file storage plus one unseal key, so a restart keeps
 * every secret (outage tests need that). KV v2 is mounted at `secret/`, as in a Vault dev server.
 * VAULT_ADDR + VAULT_TOKEN in the environment point the harness at an existing server instead. `opts.host`
 * listens on that address instead of loopback (the Kubernetes node's bridge address, for pods).
 */
export async function startVault(
  dir: string,
  name = 'openbao',
  opts: { host?: string } = {},
): Promise<VaultInstance> {
  const externalAddr = process.env.VAULT_ADDR;
  const externalToken = process.env.VAULT_TOKEN;
  // `host`: an address other than loopback (the node's bridge, for pods) always gets a server of its own.
  if (externalAddr && externalToken && !opts.host) {
    return externalVault(externalAddr, externalToken);
  }
  const { baoBinary } = componentBinaries('bao');
  if (!baoBinary) throw new Error('no OpenBao binary: test/bins/build.sh bao printed nothing');
  const home = path.join(dir, name);
  mkdirSync(path.join(home, 'data'), { recursive: true });
  const port = await freePort();
  const host = opts.host ?? '127.0.0.1';
  const addr = `http://${host}:${port}`;
  const configFile = path.join(home, 'config.hcl');
  writeFileSync(
    configFile,
    [
      `storage "file" { path = "${path.join(home, 'data')}" }`,
      `listener "tcp" {\n  address = "${host}:${port}"\n  tls_disable = true\n}`,
      'disable_mlock = true',
      `api_addr = "${addr}"`,
      'log_level = "warn"',
      '',
    ].join('\n'),
  );
  const start = () =>
    ManagedProcess.start(
      {
        name,
        command: baoBinary,
        args: ['server', `-config=${configFile}`],
        env: { HOME: home, BAO_ADDR: addr, VAULT_ADDR: addr },
        ready: () => healthy(addr),
        readyTimeoutMs: 30_000,
      },
      path.join(dir, 'logs'),
    );
  let proc: ManagedProcess | undefined = await start();

  const init = await call<{ keys_base64: string[]; root_token: string }>(addr, undefined, 'PUT', 'sys/init', {
    secret_shares: 1,
    secret_threshold: 1,
  });
  if (init.status !== 200) throw new Error(`${name}: sys/init answered ${init.status}`);
  const unsealKey = init.body.keys_base64[0]!;
  const rootToken = init.body.root_token;
  const unseal = async () => {
    const res = await call<{ sealed: boolean }>(addr, undefined, 'PUT', 'sys/unseal', { key: unsealKey });
    if (res.status !== 200 || res.body.sealed) throw new Error(`${name}: unseal answered ${res.status}`);
    // Active once the health endpoint says so (standby/sealed codes clear).
    for (let i = 0; i < 100; i++) {
      if ((await fetch(`${addr}/v1/sys/health`)).status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${name}: not active after unseal`);
  };
  await unseal();
  const mount = await call(addr, rootToken, 'POST', 'sys/mounts/secret', {
    type: 'kv',
    options: { version: '2' },
  });
  if (mount.status >= 300) throw new Error(`${name}: mounting kv-v2 at secret/ answered ${mount.status}`);
  // Transit, as a real Vault of this platform has it: auth-service encrypts TOTP secrets with it (issue 18).
  const transit = await call(addr, rootToken, 'POST', 'sys/mounts/transit', { type: 'transit' });
  if (transit.status >= 300) throw new Error(`${name}: mounting transit answered ${transit.status}`);
  // A new KV v2 mount upgrades itself in the background; wait until it takes writes.
  for (let i = 0; i < 100; i++) {
    const probe = await call(addr, rootToken, 'GET', 'secret/config');
    if (probe.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    addr,
    rootToken,
    get process() {
      return proc;
    },
    request: (method, apiPath, body) => call(addr, rootToken, method, apiPath, body),
    async restart() {
      await proc?.stop();
      proc = await start();
      await unseal();
    },
    async stopServer() {
      await proc?.stop();
      proc = undefined;
    },
    async startServer() {
      if (proc?.isRunning) return;
      proc = await start();
      await unseal();
    },
    async stop() {
      await proc?.stop();
    },
  };
}

function externalVault(addr: string, token: string): VaultInstance {
  const unsupported = async () => {
    throw new Error('VAULT_ADDR points at an external server: the harness cannot restart or stop it');
  };
  return {
    addr,
    rootToken: token,
    process: undefined,
    request: (method, apiPath, body) => call(addr, token, method, apiPath, body),
    restart: unsupported,
    stopServer: unsupported,
    startServer: unsupported,
    stop: async () => {},
  };
}
