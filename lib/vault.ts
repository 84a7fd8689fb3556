import { readFile } from 'node:fs/promises';

/**
 * A small typed Vault (and OpenBao) client: token auth, Kubernetes auth login, KV v2 read / write with
 * check-and-set, metadata, version destroy.
 *
 * Written over `fetch` rather than node-vault: node-vault's KV v2 support is a generic `write(path, body)`
 * (the caller builds `data/` paths and the `options.cas` body itself), it reports a CAS mismatch only as a
 * generic 400 whose message embeds Vault's response text, and its typings say `any` for every answer. A
 * CAS conflict is an expected outcome for the operator and must be a typed result, and error messages must
 * never carry response bodies (they can echo request data), so the thin client is both shorter and safer.
 */

export type VaultAuth =
  | { readonly method: 'token'; readonly token: string }
  | {
      readonly method: 'kubernetes';
      /** The Vault role bound to the ServiceAccount. */
      readonly role: string;
      /** ServiceAccount token, or a file to read it from (projected tokens rotate: read at each login). */
      readonly jwt?: string;
      readonly jwtPath?: string;
      /** Mount of the auth method; default `kubernetes`. */
      readonly mountPath?: string;
    };

export interface VaultClientOptions {
  /** `http(s)://host:port`, without `/v1`. */
  readonly addr: string;
  readonly auth: VaultAuth;
  /** Vault Enterprise / OpenBao namespace. */
  readonly namespace?: string;
  /** Per-request timeout; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Injectable for tests of pure logic; the real `fetch` otherwise. */
  readonly fetch?: typeof fetch;
}

export type VaultErrorCode =
  | 'unauthorized' // 401: no or bad token
  | 'forbidden' // 403: the token's policy does not allow it
  | 'not_found'
  | 'cas_mismatch' // check-and-set version did not match
  | 'invalid_request' // other 4xx
  | 'sealed' // 503 from a sealed / standby server
  | 'unavailable' // connection refused, 5xx
  | 'timeout'
  | 'login_failed'
  | 'invalid_response';

/** A Vault failure. The message names the operation and path, never a secret value or a response body. */
export class VaultError extends Error {
  override readonly name = 'VaultError';
  constructor(
    readonly code: VaultErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface KvSecret<T> {
  readonly data: T;
  readonly version: number;
  readonly createdTime: string;
  readonly customMetadata?: Record<string, string> | null;
}

export interface KvMetadata {
  readonly currentVersion: number;
  readonly oldestVersion: number;
  readonly maxVersions: number;
  readonly casRequired: boolean;
  readonly customMetadata: Record<string, string> | null;
  readonly versions: Readonly<
    Record<
      string,
      { readonly createdTime: string; readonly deletionTime: string; readonly destroyed: boolean }
    >
  >;
}

/** Splits `secret/novapos/x` into the KV v2 mount (`secret`) and the path inside it (`novapos/x`). */
export function splitKvPath(fullPath: string): { mount: string; path: string } {
  const clean = fullPath.replace(/^\/+|\/+$/g, '');
  const slash = clean.indexOf('/');
  if (slash <= 0 || slash === clean.length - 1) {
    throw new VaultError('invalid_request', `not a <mount>/<path> KV path: ${fullPath}`);
  }
  return { mount: clean.slice(0, slash), path: clean.slice(slash + 1) };
}

interface RawResponse {
  readonly status: number;
  readonly body: Record<string, unknown> | undefined;
}

function isCasMismatch(body: Record<string, unknown> | undefined): boolean {
  const errors = body?.['errors'];
  return Array.isArray(errors) && errors.some((e) => typeof e === 'string' && e.includes('check-and-set'));
}

export class VaultClient {
  private token: string | undefined;
  private tokenExpiresAt = Number.POSITIVE_INFINITY;
  private loginInFlight: Promise<string> | undefined;
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(private readonly opts: VaultClientOptions) {
    this.doFetch = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    if (opts.auth.method === 'token') this.token = opts.auth.token;
  }

  get addr(): string {
    return this.opts.addr;
  }

  /** Logs in with the Kubernetes auth method (no-op for token auth) and returns the client token. */
  async login(): Promise<string> {
    const auth = this.opts.auth;
    if (auth.method === 'token') return auth.token;
    this.loginInFlight ??= (async () => {
      try {
        const jwt = auth.jwt ?? (auth.jwtPath ? (await readFile(auth.jwtPath, 'utf8')).trim() : undefined);
        if (!jwt)
          throw new VaultError('login_failed', 'kubernetes auth: no ServiceAccount token (jwt or jwtPath)');
        const mount = auth.mountPath ?? 'kubernetes';
        const res = await this.raw('POST', `auth/${mount}/login`, { role: auth.role, jwt }, false);
        const clientToken = (
          res.body?.['auth'] as { client_token?: unknown; lease_duration?: unknown } | undefined
        )?.client_token;
        const lease = (res.body?.['auth'] as { lease_duration?: unknown } | undefined)?.lease_duration;
        if (res.status !== 200 || typeof clientToken !== 'string') {
          throw new VaultError(
            'login_failed',
            `kubernetes auth login for role ${auth.role} answered ${res.status}`,
            res.status,
          );
        }
        this.token = clientToken;
        // Log in again at 80% of the lease, so a request never races the expiry.
        this.tokenExpiresAt =
          typeof lease === 'number' && lease > 0 ? Date.now() + lease * 800 : Number.POSITIVE_INFINITY;
        return clientToken;
      } finally {
        this.loginInFlight = undefined;
      }
    })();
    return this.loginInFlight;
  }

  private async currentToken(): Promise<string> {
    if (this.token && Date.now() < this.tokenExpiresAt) return this.token;
    return this.login();
  }

  private async raw(method: string, apiPath: string, body: unknown, withToken = true): Promise<RawResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (withToken) headers['x-vault-token'] = await this.currentToken();
    if (this.opts.namespace) headers['x-vault-namespace'] = this.opts.namespace;
    const url = `${this.opts.addr.replace(/\/+$/, '')}/v1/${apiPath}`;
    let res: Response;
    try {
      res = await this.doFetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new VaultError(
        timedOut ? 'timeout' : 'unavailable',
        `${method} ${apiPath}: ${timedOut ? 'timed out' : 'unreachable'}`,
      );
    }
    const text = await res.text();
    let parsed: Record<string, unknown> | undefined;
    if (text) {
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        if (res.ok)
          throw new VaultError('invalid_response', `${method} ${apiPath}: answer is not JSON`, res.status);
      }
    }
    return { status: res.status, body: parsed };
  }

  /** An authenticated call; with Kubernetes auth a 403 (expired or revoked token) logs in again once. */
  private async call(method: string, apiPath: string, body?: unknown): Promise<RawResponse> {
    let res = await this.raw(method, apiPath, body);
    if (res.status === 403 && this.opts.auth.method === 'kubernetes') {
      this.token = undefined;
      res = await this.raw(method, apiPath, body);
    }
    return res;
  }

  private fail(method: string, apiPath: string, res: RawResponse): never {
    const where = `${method} ${apiPath}`;
    if (res.status === 400 && isCasMismatch(res.body)) {
      throw new VaultError('cas_mismatch', `${where}: check-and-set version did not match`, 400);
    }
    const code: VaultErrorCode =
      res.status === 401
        ? 'unauthorized'
        : res.status === 403
          ? 'forbidden'
          : res.status === 404
            ? 'not_found'
            : res.status === 503
              ? 'sealed'
              : res.status >= 500
                ? 'unavailable'
                : 'invalid_request';
    throw new VaultError(code, `${where} answered ${res.status}`, res.status);
  }

  /** Reads a KV v2 secret; `undefined` when it does not exist or its current version is deleted. */
  async kvRead<T = Record<string, unknown>>(
    mount: string,
    path: string,
    version?: number,
  ): Promise<KvSecret<T> | undefined> {
    const apiPath = `${mount}/data/${path}${version ? `?version=${version}` : ''}`;
    const res = await this.call('GET', apiPath);
    if (res.status === 404) return undefined;
    if (res.status !== 200) this.fail('GET', apiPath, res);
    const outer = res.body?.['data'] as { data?: unknown; metadata?: Record<string, unknown> } | undefined;
    if (!outer?.metadata) throw new VaultError('invalid_response', `GET ${apiPath}: no data/metadata`);
    if (outer.data === null || outer.data === undefined) return undefined; // deleted or destroyed version
    return {
      data: outer.data as T,
      version: Number(outer.metadata['version']),
      createdTime: String(outer.metadata['created_time'] ?? ''),
      customMetadata:
        (outer.metadata['custom_metadata'] as Record<string, string> | null | undefined) ?? null,
    };
  }

  /**
   * Writes a new KV v2 version. `cas: 0` writes only if the secret does not exist; `cas: n` only if the
   * current version is n. A mismatch throws `VaultError` with code `cas_mismatch`.
   */
  async kvWrite(
    mount: string,
    path: string,
    data: Record<string, unknown>,
    opts: { cas?: number } = {},
  ): Promise<{ version: number }> {
    const apiPath = `${mount}/data/${path}`;
    const body = opts.cas === undefined ? { data } : { data, options: { cas: opts.cas } };
    const res = await this.call('POST', apiPath, body);
    if (res.status !== 200) this.fail('POST', apiPath, res);
    const version = (res.body?.['data'] as { version?: unknown } | undefined)?.version;
    if (typeof version !== 'number')
      throw new VaultError('invalid_response', `POST ${apiPath}: no version in answer`);
    return { version };
  }

  async kvMetadata(mount: string, path: string): Promise<KvMetadata | undefined> {
    const apiPath = `${mount}/metadata/${path}`;
    const res = await this.call('GET', apiPath);
    if (res.status === 404) return undefined;
    if (res.status !== 200) this.fail('GET', apiPath, res);
    const d = res.body?.['data'] as Record<string, unknown> | undefined;
    if (!d) throw new VaultError('invalid_response', `GET ${apiPath}: no data`);
    const versions: Record<string, { createdTime: string; deletionTime: string; destroyed: boolean }> = {};
    for (const [v, meta] of Object.entries(
      (d['versions'] as Record<string, Record<string, unknown>> | undefined) ?? {},
    )) {
      versions[v] = {
        createdTime: String(meta['created_time'] ?? ''),
        deletionTime: String(meta['deletion_time'] ?? ''),
        destroyed: meta['destroyed'] === true,
      };
    }
    return {
      currentVersion: Number(d['current_version'] ?? 0),
      oldestVersion: Number(d['oldest_version'] ?? 0),
      maxVersions: Number(d['max_versions'] ?? 0),
      casRequired: d['cas_required'] === true,
      customMetadata: (d['custom_metadata'] as Record<string, string> | null | undefined) ?? null,
      versions,
    };
  }

  async kvWriteMetadata(
    mount: string,
    path: string,
    meta: { customMetadata?: Record<string, string>; maxVersions?: number; casRequired?: boolean },
  ): Promise<void> {
    const apiPath = `${mount}/metadata/${path}`;
    const body: Record<string, unknown> = {};
    if (meta.customMetadata) body['custom_metadata'] = meta.customMetadata;
    if (meta.maxVersions !== undefined) body['max_versions'] = meta.maxVersions;
    if (meta.casRequired !== undefined) body['cas_required'] = meta.casRequired;
    const res = await this.call('POST', apiPath, body);
    if (res.status !== 204 && res.status !== 200) this.fail('POST', apiPath, res);
  }

  /** Permanently removes the key material of the given versions (not just a soft delete). */
  async kvDestroyVersions(mount: string, path: string, versions: readonly number[]): Promise<void> {
    if (versions.length === 0) return;
    const apiPath = `${mount}/destroy/${path}`;
    const res = await this.call('POST', apiPath, { versions });
    if (res.status !== 204 && res.status !== 200) this.fail('POST', apiPath, res);
  }

  /** Deletes the metadata and every version of a secret. */
  async kvDeleteAll(mount: string, path: string): Promise<void> {
    const apiPath = `${mount}/metadata/${path}`;
    const res = await this.call('DELETE', apiPath);
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) this.fail('DELETE', apiPath, res);
  }

  /** Names under a folder (folders end with `/`); empty when the folder does not exist. */
  async kvList(mount: string, path: string): Promise<string[]> {
    const apiPath = `${mount}/metadata/${path.replace(/\/?$/, '/')}`;
    const res = await this.call('LIST', apiPath);
    if (res.status === 404) return [];
    if (res.status !== 200) this.fail('LIST', apiPath, res);
    const keys = (res.body?.['data'] as { keys?: unknown } | undefined)?.keys;
    return Array.isArray(keys) ? keys.map(String) : [];
  }
}
