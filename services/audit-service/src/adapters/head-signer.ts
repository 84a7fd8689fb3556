import { type VaultClient, VaultError, type VaultErrorCode } from '../../../../lib/vault.js';

/**
 * Signed chain heads (issue 20, tamper evidence against someone who can write the database): the chain's head
 * (seq, entry_hash) is signed with an OpenBao/Vault transit key and the signature is kept OUTSIDE PostgreSQL,
 * in Vault's KV v2 (one checkpoint per signed seq). Rewriting a row and every later hash makes a consistent
 * chain again, but no longer the one whose head was signed: `verify` compares each checkpoint with the row at
 * its seq and checks the signature with the transit key, which the database's writers cannot use.
 *
 * Vault access is the services' shared client (lib/vault.ts): Kubernetes auth with the ServiceAccount token
 * (logged in again before the lease ends, and after a 403), or a token for development.
 */
export interface Checkpoint {
  readonly seq: number;
  readonly hash: string;
  readonly signature: string;
  readonly signedAt: string;
}

export interface HeadSigner {
  /** Logs in (Kubernetes auth; a no-op with a token): a wrong role or ServiceAccount fails here. */
  login(): Promise<void>;
  /** Signs and stores the head; idempotent per seq. */
  sign(seq: number, hash: string): Promise<Checkpoint>;
  /** Every checkpoint stored, in seq order. */
  checkpoints(): Promise<Checkpoint[]>;
  /** Whether the signature is the transit key's over this head. */
  valid(c: Checkpoint): Promise<boolean>;
}

export interface TransitSignerOptions {
  readonly vault: VaultClient;
  /** Vault Enterprise / OpenBao namespace (`VAULT_NAMESPACE`). */
  readonly namespace?: string;
  readonly transitMount: string;
  readonly key: string;
  readonly kvMount: string;
  /** KV path under the mount: checkpoints are `<path>/<seq, 20 digits>`. */
  readonly path: string;
}

/** Failures that do not heal by waiting: the role, the ServiceAccount or the policy is wrong. */
const REFUSALS: ReadonlySet<VaultErrorCode> = new Set([
  'login_failed',
  'unauthorized',
  'forbidden',
  'not_found',
  'invalid_request',
]);

/**
 * Whether a signer failure is a configuration problem (Vault refusing this service, or no ServiceAccount token
 * file to log in with), not Vault being unreachable.
 */
export function isRefusal(err: unknown): boolean {
  return err instanceof VaultError ? REFUSALS.has(err.code) : true;
}

const message = (seq: number, hash: string) =>
  Buffer.from(`novapos-audit-head:v1:${seq}:${hash}`).toString('base64');

const statusCode = (status: number): VaultErrorCode =>
  status === 401
    ? 'unauthorized'
    : status === 403
      ? 'forbidden'
      : status === 404
        ? 'not_found'
        : status === 503
          ? 'sealed'
          : status >= 500
            ? 'unavailable'
            : 'invalid_request';

export class TransitHeadSigner implements HeadSigner {
  private token: string | undefined;

  constructor(private readonly opts: TransitSignerOptions) {}

  async login(): Promise<void> {
    this.token = await this.opts.vault.login();
  }

  /** A transit call with the client's token; a 403 (expired Kubernetes-auth token) logs in once more. */
  private async transit<T>(op: 'sign' | 'verify', body: Record<string, unknown>): Promise<T> {
    const apiPath = `${this.opts.transitMount}/${op}/${this.opts.key}`;
    for (let attempt = 0; ; attempt++) {
      if (this.token === undefined) await this.login();
      let res: Response;
      try {
        res = await fetch(`${this.opts.vault.addr.replace(/\/+$/, '')}/v1/${apiPath}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-vault-token': this.token ?? '',
            ...(this.opts.namespace ? { 'x-vault-namespace': this.opts.namespace } : {}),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (err) {
        const timedOut = err instanceof Error && err.name === 'TimeoutError';
        throw new VaultError(timedOut ? 'timeout' : 'unavailable', `POST ${apiPath}: unreachable`);
      }
      if (res.status === 403 && attempt === 0) {
        this.token = undefined;
        continue;
      }
      // The status and path only: a body may echo input.
      if (!res.ok)
        throw new VaultError(statusCode(res.status), `POST ${apiPath} answered ${res.status}`, res.status);
      return (await res.json()) as T;
    }
  }

  private checkpointPath(seq: number): string {
    return `${this.opts.path}/${String(seq).padStart(20, '0')}`;
  }

  async sign(seq: number, hash: string): Promise<Checkpoint> {
    const signed = await this.transit<{ data: { signature: string } }>('sign', { input: message(seq, hash) });
    const c: Checkpoint = { seq, hash, signature: signed.data.signature, signedAt: new Date().toISOString() };
    try {
      // cas 0: never overwrite a checkpoint (the policy grants create, not update: an existing one answers 403).
      await this.opts.vault.kvWrite(this.opts.kvMount, this.checkpointPath(seq), { ...c }, { cas: 0 });
    } catch (err) {
      // It exists already (a second replica signed the same head): keep the first.
      const existing = await this.read(seq).catch(() => undefined);
      if (!existing || existing.hash !== hash) throw err;
    }
    return c;
  }

  private async read(seq: number): Promise<Checkpoint | undefined> {
    return (await this.opts.vault.kvRead<Checkpoint>(this.opts.kvMount, this.checkpointPath(seq)))?.data;
  }

  async checkpoints(): Promise<Checkpoint[]> {
    const out: Checkpoint[] = [];
    for (const key of (await this.opts.vault.kvList(this.opts.kvMount, this.opts.path)).sort()) {
      const c = await this.read(Number(key));
      if (c) out.push(c);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  async valid(c: Checkpoint): Promise<boolean> {
    const r = await this.transit<{ data: { valid: boolean } }>('verify', {
      input: message(c.seq, c.hash),
      signature: c.signature,
    });
    return r.data.valid === true;
  }
}
