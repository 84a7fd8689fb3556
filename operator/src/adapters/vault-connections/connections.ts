import { readFile } from 'node:fs/promises';
import type { CoreV1Api } from '@kubernetes/client-node';
import { VaultClient, VaultError } from '../../../../lib/vault.js';
import { LOCAL_VAULT_CONNECTION } from '../../api/meta.js';
import type { OperatorConfig } from '../../config.js';
import type { PromotionPolicy, VaultAuth } from '../../connections-file.js';
import { type SecretStore, type StoredSecret, VaultSecretStore } from './secret-store.js';

/** How the operator authenticates to one named Vault. Tokens are referenced, never written in config. */
export type ConnectionAuth =
  /** A token given directly (local development: VAULT_TOKEN). */
  | { readonly method: 'token'; readonly token: string }
  /** A token in a file (a mounted Secret); re-read when Vault refuses the cached one. */
  | { readonly method: 'tokenFile'; readonly path: string }
  /** A token in a Kubernetes Secret (default namespace: the operator's); re-read when Vault refuses it. */
  | {
      readonly method: 'tokenSecret';
      readonly name: string;
      readonly key?: string;
      readonly namespace?: string;
    }
  /** Vault's Kubernetes auth method with the operator's ServiceAccount token. */
  | {
      readonly method: 'kubernetes';
      readonly role: string;
      readonly mount?: string;
      readonly serviceAccountTokenPath: string;
    };

export interface ConnectionDefinition {
  /** `local` (the operator's own Vault) or a name SecretPromotions use (`staging`, `prod`). */
  readonly name: string;
  readonly address: string;
  readonly auth: ConnectionAuth;
  /** Vault Enterprise / OpenBao namespace. */
  readonly namespace?: string;
  /** Per-request timeout; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Who may promote from or to it (the connections file); absent: no promotion may use it. */
  readonly promotion?: PromotionPolicy;
}

export class UnknownConnectionError extends Error {
  override readonly name = 'UnknownConnectionError';
  readonly code = 'unknown_connection';
  constructor(connection: string, known: readonly string[]) {
    super(
      `Vault connection "${connection}" is not configured (known: ${known.join(', ') || 'none'}): add it to the operator's connections file`,
    );
  }
}

export interface VaultConnectionsOptions {
  readonly connections: readonly ConnectionDefinition[];
  /** Needed for `tokenSecret` connections. */
  readonly core?: CoreV1Api;
  /** Default namespace of `tokenSecret` references. */
  readonly operatorNamespace?: string;
  /** Parallel requests per connection; default 8. */
  readonly concurrency?: number;
  /** The real fetch by default. */
  readonly fetch?: typeof fetch;
}

/** One named Vault: its client (rebuilt when the token changes) and a count of HTTP requests made to it. */
class Connection {
  requests = 0;
  private client?: VaultClient;
  private token?: string;
  private readonly countingFetch: typeof fetch;

  constructor(
    readonly def: ConnectionDefinition,
    private readonly opts: VaultConnectionsOptions,
  ) {
    const base = opts.fetch ?? fetch;
    this.countingFetch = (input, init) => {
      this.requests += 1;
      return base(input, init);
    };
  }

  get fetch(): typeof fetch {
    return this.countingFetch;
  }

  async vault(): Promise<VaultClient> {
    if (this.client) return this.client;
    const auth = this.def.auth;
    if (auth.method === 'kubernetes') {
      this.client = this.build({
        method: 'kubernetes',
        role: auth.role,
        mountPath: auth.mount,
        jwtPath: auth.serviceAccountTokenPath,
      });
    } else {
      this.token = await this.readToken();
      this.client = this.build({ method: 'token', token: this.token });
    }
    return this.client;
  }

  /** After Vault refused the token: re-read it; true when it changed (worth one retry). */
  async refresh(): Promise<boolean> {
    if (this.def.auth.method === 'token' || this.def.auth.method === 'kubernetes') return false;
    const token = await this.readToken();
    if (token === this.token) return false;
    this.token = token;
    this.client = this.build({ method: 'token', token });
    return true;
  }

  private build(auth: ConstructorParameters<typeof VaultClient>[0]['auth']): VaultClient {
    return new VaultClient({
      addr: this.def.address,
      auth,
      namespace: this.def.namespace,
      timeoutMs: this.def.timeoutMs,
      fetch: this.countingFetch,
    });
  }

  private async readToken(): Promise<string> {
    const auth = this.def.auth;
    const where = `Vault connection "${this.def.name}"`;
    if (auth.method === 'token') return auth.token;
    if (auth.method === 'tokenFile') {
      const token = (await readFile(auth.path, 'utf8')).trim();
      if (!token) throw new VaultError('login_failed', `${where}: token file ${auth.path} is empty`);
      return token;
    }
    if (auth.method === 'tokenSecret') {
      const core = this.opts.core;
      const namespace = auth.namespace ?? this.opts.operatorNamespace;
      if (!core || !namespace)
        throw new VaultError('login_failed', `${where}: no Kubernetes client to read its token Secret`);
      const key = auth.key ?? 'token';
      let encoded: string | undefined;
      try {
        const secret = await core.readNamespacedSecret({ name: auth.name, namespace });
        encoded = secret.data?.[key];
      } catch (err) {
        const status = (err as { code?: number }).code;
        throw new VaultError(
          'login_failed',
          `${where}: cannot read Secret ${namespace}/${auth.name} (${status ?? 'error'})`,
        );
      }
      const token = encoded ? Buffer.from(encoded, 'base64').toString('utf8').trim() : '';
      if (!token)
        throw new VaultError(
          'login_failed',
          `${where}: Secret ${namespace}/${auth.name} has no "${key}" entry`,
        );
      return token;
    }
    throw new VaultError('login_failed', `${where}: unsupported auth method`);
  }
}

const refusedToken = (err: unknown) =>
  err instanceof VaultError && (err.code === 'forbidden' || err.code === 'unauthorized');

/**
 * The operator's named Vault connections: `local` (its own Vault) and one per other environment. Each gives
 * a `SecretStore`; tokens kept in a file or a Kubernetes Secret are re-read once when Vault refuses the
 * cached one, so rotating a token needs no restart.
 */
export class VaultConnections {
  private readonly byName = new Map<string, Connection>();
  private readonly stores = new Map<string, SecretStore>();

  constructor(private readonly opts: VaultConnectionsOptions) {
    for (const def of opts.connections) this.byName.set(def.name, new Connection(def, opts));
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  definitions(): ConnectionDefinition[] {
    return [...this.byName.values()].map((c) => c.def);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  store(name: string): SecretStore {
    const known = this.stores.get(name);
    if (known) return known;
    const conn = this.byName.get(name);
    if (!conn) throw new UnknownConnectionError(name, this.names());
    const inner = new VaultSecretStore(name, () => conn.vault(), conn.fetch, this.opts.concurrency ?? 8);
    const retry = async <R>(call: () => Promise<R>): Promise<R> => {
      try {
        return await call();
      } catch (err) {
        if (refusedToken(err) && (await conn.refresh())) return call();
        throw err;
      }
    };
    const store: SecretStore = {
      connection: name,
      read: (m, p, v): Promise<StoredSecret> => retry(() => inner.read(m, p, v)),
      list: (m, p, s) => retry(() => inner.list(m, p, s)),
      write: (m, p, d, c) => retry(() => inner.write(m, p, d, c)),
      setCustomMetadata: (m, p, e, x) => retry(() => inner.setCustomMetadata(m, p, e, x)),
      metadata: (m, p) => retry(() => inner.metadata(m, p)),
      deleteVersions: (m, p, v) => retry(() => inner.deleteVersions(m, p, v)),
    };
    this.stores.set(name, store);
    return store;
  }

  /** HTTP requests made so far, per connection (benchmarks report requests per key). */
  requestCounts(): Record<string, number> {
    return Object.fromEntries([...this.byName].map(([name, c]) => [name, c.requests]));
  }

  totalRequests(): number {
    return [...this.byName.values()].reduce((n, c) => n + c.requests, 0);
  }
}

/**
 * The connections the operator's configuration describes, each with its promotion policy: `local` (the
 * operator's own Vault, VAULT_ADDR) only when the connections file has a `local` entry, logging in with that
 * entry's own auth (a promotion role, never the signing-key rotation's; VAULT_TOKEN only in local
 * development), and each named connection of the file. `extra` adds or replaces connections.
 */
export function connectionsFromConfig(
  config: Pick<OperatorConfig, 'vault' | 'connections'>,
  env: Readonly<Record<string, string | undefined>>,
  extra: readonly ConnectionDefinition[] = [],
): ConnectionDefinition[] {
  const out = new Map<string, ConnectionDefinition>();
  for (const c of config.connections.values()) {
    const local = c.name === LOCAL_VAULT_CONNECTION;
    const address = local ? config.vault?.address : c.address;
    let auth: ConnectionAuth | undefined = c.auth ? authOf(c.auth, env) : undefined;
    if (local && !c.auth && config.vault?.token) auth = { method: 'token', token: config.vault.token };
    if (!address || !auth) continue;
    out.set(c.name, {
      name: c.name,
      address,
      auth,
      ...(c.namespace ? { namespace: c.namespace } : {}),
      ...(c.promotion ? { promotion: c.promotion } : {}),
    });
  }
  for (const c of extra) out.set(c.name, c);
  return [...out.values()];
}

function authOf(a: VaultAuth, env: Readonly<Record<string, string | undefined>>): ConnectionAuth | undefined {
  if (a.method === 'kubernetes')
    return {
      method: 'kubernetes',
      role: a.role,
      mount: a.mount,
      serviceAccountTokenPath: a.serviceAccountTokenPath,
    };
  if (a.method === 'tokenSecret')
    return { method: 'tokenSecret', name: a.name, key: a.key, namespace: a.namespace };
  if (a.tokenFile) return { method: 'tokenFile', path: a.tokenFile };
  if (a.tokenEnv && env[a.tokenEnv]) return { method: 'token', token: env[a.tokenEnv] as string };
  return undefined;
}
