import { type VaultClient, VaultError } from '../../../../lib/vault.js';

/** Secret data as KV v2 holds it: values are usually strings, but any JSON is allowed. */
export type SecretData = Record<string, unknown>;

/** One KV v2 secret as read: `version` 0 means the secret does not exist. */
export interface StoredSecret {
  readonly path: string;
  readonly version: number;
  /** Absent when the secret does not exist or the read version is deleted or destroyed. */
  readonly data?: SecretData;
  readonly customMetadata?: Readonly<Record<string, string>>;
}

/**
 * What a promotion needs from one Vault (one named connection): KV v2 reads at a version, a recursive
 * listing, check-and-set writes, provenance in custom_metadata, and soft deletes. Errors are `VaultError`s
 * whose messages name the operation and path, never a value.
 */
export interface SecretStore {
  /** The connection name (`local`, `staging`, ...), for messages. */
  readonly connection: string;
  /** The secret at `version` (default: the current one). */
  read(mount: string, path: string, version?: number): Promise<StoredSecret>;
  /**
   * Every secret under `prefix`, recursively, as paths relative to the mount, sorted. A folder or secret for
   * which `skip(path)` is true is neither descended into nor returned; it is counted in `skipped`.
   */
  list(
    mount: string,
    prefix: string,
    skip?: (path: string) => boolean,
  ): Promise<{ paths: string[]; skipped: string[] }>;
  /** Writes a new version only if the current version is `cas` (0: only if absent); returns the new version. */
  write(mount: string, path: string, data: SecretData, cas: number): Promise<number>;
  /** Merges `entries` into the secret's custom_metadata (`existing` is what the caller last read). */
  setCustomMetadata(
    mount: string,
    path: string,
    entries: Readonly<Record<string, string>>,
    existing?: Readonly<Record<string, string>>,
  ): Promise<void>;
  /** Reads the metadata (current version, custom_metadata); undefined when the secret does not exist. */
  metadata(
    mount: string,
    path: string,
  ): Promise<
    { currentVersion: number; customMetadata: Record<string, string>; liveVersions: number[] } | undefined
  >;
  /** Soft-deletes versions (recoverable with `vault kv undelete`). */
  deleteVersions(mount: string, path: string, versions: readonly number[]): Promise<void>;
}

/** Limits parallel requests to one Vault (reads of a prefix, writes of a plan). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The `SecretStore` of one connection over lib/vault.ts's `VaultClient`, plus the two calls that client
 * lacks (soft delete of versions; reading the version of a secret whose current version is deleted comes
 * from its metadata).
 */
export class VaultSecretStore implements SecretStore {
  constructor(
    readonly connection: string,
    private readonly client: () => Promise<VaultClient>,
    private readonly rawFetch: typeof fetch,
    private readonly concurrency = 8,
  ) {}

  async read(mount: string, path: string, version?: number): Promise<StoredSecret> {
    const client = await this.client();
    const secret = await client.kvRead<SecretData>(mount, path, version);
    if (secret) {
      return {
        path,
        version: secret.version,
        data: secret.data ?? {},
        customMetadata: secret.customMetadata ?? undefined,
      };
    }
    // Absent, or the asked-for version is deleted/destroyed: the metadata tells which.
    const meta = await client.kvMetadata(mount, path);
    if (!meta) return { path, version: 0 };
    return {
      path,
      version: version ?? meta.currentVersion,
      customMetadata: meta.customMetadata ?? undefined,
    };
  }

  async list(
    mount: string,
    prefix: string,
    skip: (path: string) => boolean = () => false,
  ): Promise<{ paths: string[]; skipped: string[] }> {
    const client = await this.client();
    const paths: string[] = [];
    const skipped: string[] = [];
    let folders = [prefix.replace(/\/+$/, '')];
    while (folders.length) {
      const listed = await mapLimit(folders, this.concurrency, async (folder) => ({
        folder,
        names: await client.kvList(mount, folder),
      }));
      folders = [];
      for (const { folder, names } of listed) {
        for (const name of names) {
          const full = `${folder}/${name}`.replace(/\/+$/, '');
          if (skip(full)) {
            skipped.push(full);
            continue;
          }
          if (name.endsWith('/')) folders.push(full);
          else paths.push(full);
        }
      }
    }
    return { paths: paths.sort(), skipped: skipped.sort() };
  }

  async write(mount: string, path: string, data: SecretData, cas: number): Promise<number> {
    const client = await this.client();
    return (await client.kvWrite(mount, path, data, { cas })).version;
  }

  async setCustomMetadata(
    mount: string,
    path: string,
    entries: Readonly<Record<string, string>>,
    existing?: Readonly<Record<string, string>>,
  ): Promise<void> {
    const client = await this.client();
    // custom_metadata is replaced whole by a write: keep what others put there.
    await client.kvWriteMetadata(mount, path, { customMetadata: { ...(existing ?? {}), ...entries } });
  }

  async metadata(mount: string, path: string) {
    const client = await this.client();
    const meta = await client.kvMetadata(mount, path);
    if (!meta) return undefined;
    const liveVersions = Object.entries(meta.versions)
      .filter(([, v]) => !v.destroyed && !v.deletionTime)
      .map(([v]) => Number(v))
      .sort((a, b) => a - b);
    return { currentVersion: meta.currentVersion, customMetadata: meta.customMetadata ?? {}, liveVersions };
  }

  async deleteVersions(mount: string, path: string, versions: readonly number[]): Promise<void> {
    if (!versions.length) return;
    const client = await this.client();
    const token = await client.login();
    const apiPath = `${mount}/delete/${path}`;
    let res: Response;
    try {
      res = await this.rawFetch(`${client.addr.replace(/\/+$/, '')}/v1/${apiPath}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-vault-token': token },
        body: JSON.stringify({ versions }),
        signal: AbortSignal.timeout(5000),
      });
    } catch {
      throw new VaultError('unavailable', `POST ${apiPath}: unreachable`);
    }
    await res.arrayBuffer();
    if (res.status === 204 || res.status === 200) return;
    const code =
      res.status === 403
        ? 'forbidden'
        : res.status === 401
          ? 'unauthorized'
          : res.status >= 500
            ? 'unavailable'
            : 'invalid_request';
    throw new VaultError(code, `POST ${apiPath} answered ${res.status}`, res.status);
  }
}
