/**
 * Signed chain heads (issue 20, tamper evidence against someone who can write the database): the chain's head
 * (seq, entry_hash) is signed with an OpenBao/Vault transit key and the signature is kept OUTSIDE PostgreSQL,
 * in Vault's KV v2 (one checkpoint per signed seq). Rewriting a row and every later hash makes a consistent
 * chain again, but no longer the one whose head was signed: `verify` compares each checkpoint with the row at
 * its seq and checks the signature with the transit key, which the database's writers cannot use.
 */
export interface Checkpoint {
  readonly seq: number;
  readonly hash: string;
  readonly signature: string;
  readonly signedAt: string;
}

export interface HeadSigner {
  /** Signs and stores the head; idempotent per seq. */
  sign(seq: number, hash: string): Promise<Checkpoint>;
  /** Every checkpoint stored, in seq order. */
  checkpoints(): Promise<Checkpoint[]>;
  /** Whether the signature is the transit key's over this head. */
  valid(c: Checkpoint): Promise<boolean>;
}

export interface TransitSignerOptions {
  readonly addr: string;
  readonly token: () => string;
  readonly transitMount: string;
  readonly key: string;
  readonly kvMount: string;
  /** KV path under the mount: checkpoints are `<path>/<seq, 20 digits>`. */
  readonly path: string;
}

const message = (seq: number, hash: string) =>
  Buffer.from(`novapos-audit-head:v1:${seq}:${hash}`).toString('base64');

export class TransitHeadSigner implements HeadSigner {
  constructor(private readonly opts: TransitSignerOptions) {}

  private async call<T>(
    method: string,
    apiPath: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.opts.addr}/v1/${apiPath}`, {
      method,
      headers: { 'x-vault-token': this.opts.token(), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  private async ok<T>(method: string, apiPath: string, body?: unknown): Promise<T> {
    const r = await this.call<T>(method, apiPath, body);
    // The status and path only: a body may echo input.
    if (r.status >= 300) throw new Error(`vault ${method} ${apiPath.split('/')[0]} answered ${r.status}`);
    return r.body;
  }

  async sign(seq: number, hash: string): Promise<Checkpoint> {
    const signed = await this.ok<{ data: { signature: string } }>(
      'POST',
      `${this.opts.transitMount}/sign/${this.opts.key}`,
      { input: message(seq, hash) },
    );
    const c: Checkpoint = { seq, hash, signature: signed.data.signature, signedAt: new Date().toISOString() };
    await this.ok('POST', `${this.opts.kvMount}/data/${this.opts.path}/${String(seq).padStart(20, '0')}`, {
      data: c,
      options: { cas: 0 }, // never overwrite a checkpoint
    }).catch(async (err: Error) => {
      // 400 on cas 0 = it exists already (a second replica signed the same head): keep the first.
      const existing = await this.read(seq);
      if (!existing || existing.hash !== hash) throw err;
    });
    return c;
  }

  private async read(seq: number): Promise<Checkpoint | undefined> {
    const r = await this.call<{ data: { data: Checkpoint } }>(
      'GET',
      `${this.opts.kvMount}/data/${this.opts.path}/${String(seq).padStart(20, '0')}`,
    );
    return r.status === 200 ? r.body.data.data : undefined;
  }

  async checkpoints(): Promise<Checkpoint[]> {
    const r = await this.call<{ data: { keys: string[] } }>(
      'LIST',
      `${this.opts.kvMount}/metadata/${this.opts.path}`,
    );
    if (r.status === 404) return [];
    if (r.status >= 300) throw new Error(`vault LIST checkpoints answered ${r.status}`);
    const out: Checkpoint[] = [];
    for (const key of r.body.data.keys.sort()) {
      const c = await this.read(Number(key));
      if (c) out.push(c);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  async valid(c: Checkpoint): Promise<boolean> {
    const r = await this.ok<{ data: { valid: boolean } }>(
      'POST',
      `${this.opts.transitMount}/verify/${this.opts.key}`,
      {
        input: message(c.seq, c.hash),
        signature: c.signature,
      },
    );
    return r.data.valid === true;
  }
}
