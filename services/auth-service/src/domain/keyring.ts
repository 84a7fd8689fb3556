import { randomUUID } from 'node:crypto';
import { type CryptoKey, importJWK, type JSONWebKeySet, type JWK, SignJWT } from 'jose';
import { JwksSnapshot, type JwtVerifyOptions, type VerifiedJwt } from '../../../../lib/jwks-verifier.js';
import { computeKeysetHash, type KeysetDocument, type SigningKeySecret } from '../../../../lib/keyset.js';

export { computeKeysetHash, type KeysetDocument, type SigningKeySecret };

/** Where key material comes from (Vault in production: storage/vault-keys.ts). */
export interface KeysetSource {
  readKeyset(): Promise<unknown>;
  readKey(kid: string): Promise<unknown>;
}

export class KeysetError extends Error {
  override readonly name = 'KeysetError';
  constructor(
    readonly code:
      | 'keyset_missing'
      | 'keyset_invalid'
      | 'keyset_hash_mismatch'
      | 'key_missing'
      | 'key_invalid'
      | 'source_unavailable',
    message: string,
  ) {
    super(message);
  }
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  EC: ['crv', 'x', 'y'],
  RSA: ['n', 'e'],
  OKP: ['crv', 'x'],
};

/** Validates a key-set document; throws KeysetError naming the first problem (never a key value). */
export function parseKeysetDocument(raw: unknown): KeysetDocument {
  // Annotated, so that TypeScript narrows after each `bad(...)` (it never returns).
  const bad: (why: string) => never = (why) => {
    throw new KeysetError('keyset_invalid', `key-set document: ${why}`);
  };
  if (!raw || typeof raw !== 'object') bad('not an object');
  const d = raw as Record<string, unknown>;
  if (typeof d['issuer'] !== 'string' || !d['issuer']) bad('issuer missing');
  const audiences = d['audiences'];
  if (
    !Array.isArray(audiences) ||
    audiences.length === 0 ||
    !audiences.every((a) => typeof a === 'string' && a)
  ) {
    bad('audiences must be a non-empty list');
  }
  const jwks = d['jwks'] as JSONWebKeySet | undefined;
  if (!jwks || !Array.isArray(jwks.keys) || jwks.keys.length === 0) bad('jwks.keys missing');
  for (const k of jwks.keys) {
    if (!k || typeof k.kid !== 'string' || typeof k.alg !== 'string' || typeof k.kty !== 'string')
      bad('a key lacks kid/alg/kty');
    if ('d' in k || k.kty === 'oct') bad(`key ${k.kid} is not a public key`);
  }
  const activeKid = d['activeKid'];
  if (typeof activeKid !== 'string' || !jwks.keys.some((k) => k.kid === activeKid))
    bad('activeKid is not in jwks');
  const nextKid = d['nextKid'] ?? '';
  if (typeof nextKid !== 'string') bad('nextKid must be a string');
  const ttl = d['jwksCacheTTLSeconds'];
  const maxTtl = d['maxTokenTTLSeconds'];
  if (typeof ttl !== 'number' || ttl < 0) bad('jwksCacheTTLSeconds must be a number');
  if (typeof maxTtl !== 'number' || maxTtl <= 0) bad('maxTokenTTLSeconds must be a positive number');
  const hash = d['keysetHash'];
  if (typeof hash !== 'string') bad('keysetHash missing');
  if (computeKeysetHash(jwks, activeKid) !== hash) {
    throw new KeysetError(
      'keyset_hash_mismatch',
      'key-set document: keysetHash does not match {jwks, activeKid}',
    );
  }
  return {
    issuer: d['issuer'] as string,
    audiences: audiences as string[],
    algorithm: typeof d['algorithm'] === 'string' ? (d['algorithm'] as string) : '',
    jwks,
    activeKid: activeKid as string,
    nextKid: nextKid as string,
    keysetHash: hash as string,
    jwksCacheTTLSeconds: ttl as number,
    maxTokenTTLSeconds: maxTtl as number,
    updatedAt: typeof d['updatedAt'] === 'string' ? (d['updatedAt'] as string) : '',
  };
}

/** The published key of `activeKid` (parseKeysetDocument checked it is there, with its kid and alg). */
function activeKey(doc: KeysetDocument): JWK & { kid: string; alg: string } {
  const key = doc.jwks.keys.find((k) => k.kid === doc.activeKid);
  if (!key?.kid || !key.alg)
    throw new KeysetError('keyset_invalid', `key-set document: activeKid ${doc.activeKid} is not in jwks`);
  return { ...key, kid: key.kid, alg: key.alg };
}

/** Validates the active key's secret against the published public key of the same kid. */
export function parseActiveKeySecret(raw: unknown, published: JWK): SigningKeySecret {
  const bad: (why: string) => never = (why) => {
    throw new KeysetError('key_invalid', `signing key ${published.kid}: ${why}`);
  };
  if (!raw || typeof raw !== 'object') bad('secret is not an object');
  const s = raw as Record<string, unknown>;
  const jwk = s['privateJwk'] as JWK | undefined;
  if (s['kid'] !== published.kid) bad('kid does not match');
  if (s['alg'] !== published.alg) bad('alg does not match the published key');
  if (s['state'] !== 'active') bad(`state is ${String(s['state'])}, not active`);
  if (!jwk || typeof jwk !== 'object' || typeof jwk.d !== 'string') bad('privateJwk missing');
  if (jwk.kty !== published.kty) bad('key type does not match the published key');
  for (const member of PUBLIC_MEMBERS[published.kty ?? ''] ?? []) {
    if ((jwk as Record<string, unknown>)[member] !== (published as Record<string, unknown>)[member]) {
      bad('private key does not belong to the published public key');
    }
  }
  return s as unknown as SigningKeySecret;
}

export interface LoadedKeyset {
  readonly doc: KeysetDocument;
  readonly snapshot: JwksSnapshot;
  readonly signingKey: CryptoKey;
  readonly loadedAt: Date;
}

export interface KeyRingEvents {
  loaded(info: { keysetHash: string; activeKid: string; kids: string[]; changed: boolean }): void;
  failed(err: KeysetError): void;
}

/**
 * The signing key set in memory: loaded from the source at start, on each poll and on a reload
 * notification. A failed load keeps the last good set (tokens keep being issued and verified), and is
 * reported through `events.failed` (no key material in it).
 */
export class KeyRing {
  private current: LoadedKeyset | undefined;
  private inFlight: Promise<void> | undefined;
  private again: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: KeysetSource,
    private readonly events: KeyRingEvents,
  ) {}

  get loaded(): LoadedKeyset | undefined {
    return this.current;
  }

  /** What GET /keys/status answers: public data only. */
  status(): { keysetHash: string | null; kids: string[]; activeKid: string | null; loadedAt: string | null } {
    const c = this.current;
    return {
      keysetHash: c?.doc.keysetHash ?? null,
      kids: c ? c.doc.jwks.keys.flatMap((k) => (k.kid ? [k.kid] : [])) : [],
      activeKid: c?.doc.activeKid ?? null,
      loadedAt: c?.loadedAt.toISOString() ?? null,
    };
  }

  /**
   * Re-reads the key set. Resolves either way; failures go to events. A reload asked while a read is under
   * way gets one more read after it (shared by every reload asked meanwhile): that read may have started
   * before what the caller is told about (the operator's notification right after it wrote a new set), and
   * answering with it left the service on the older set until its next poll.
   */
  reload(): Promise<void> {
    if (!this.inFlight) {
      this.inFlight = this.load().finally(() => {
        this.inFlight = undefined;
      });
      return this.inFlight;
    }
    this.again ??= this.inFlight.then(() => {
      this.again = undefined;
      return this.reload();
    });
    return this.again;
  }

  startPolling(intervalMs: number): void {
    this.stopPolling();
    this.timer = setInterval(() => void this.reload(), intervalMs);
    this.timer.unref();
  }

  stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async load(): Promise<void> {
    try {
      const raw = await this.source.readKeyset().catch((err: unknown) => {
        throw new KeysetError(
          'source_unavailable',
          `key-set source: ${err instanceof Error ? err.message : 'read failed'}`,
        );
      });
      if (raw === undefined) throw new KeysetError('keyset_missing', 'key-set document not found');
      const doc = parseKeysetDocument(raw);
      const prev = this.current;
      if (prev && prev.doc.keysetHash === doc.keysetHash) {
        // Same set: only the metadata (TTLs, audiences) may have changed; keep the imported key.
        this.current = { ...prev, doc };
        this.events.loaded({
          keysetHash: doc.keysetHash,
          activeKid: doc.activeKid,
          kids: prev.snapshot.kids,
          changed: false,
        });
        return;
      }
      const published = activeKey(doc);
      let signingKey: CryptoKey;
      if (prev && prev.doc.activeKid === doc.activeKid) {
        signingKey = prev.signingKey;
      } else {
        const rawKey = await this.source.readKey(doc.activeKid).catch((err: unknown) => {
          throw new KeysetError(
            'source_unavailable',
            `signing key source: ${err instanceof Error ? err.message : 'read failed'}`,
          );
        });
        if (rawKey === undefined)
          throw new KeysetError('key_missing', `signing key ${doc.activeKid} not found`);
        const secret = parseActiveKeySecret(rawKey, published);
        try {
          signingKey = (await importJWK(secret.privateJwk, secret.alg)) as CryptoKey;
        } catch {
          throw new KeysetError('key_invalid', `signing key ${doc.activeKid}: cannot be imported`);
        }
      }
      const snapshot = new JwksSnapshot(doc.jwks);
      this.current = { doc, snapshot, signingKey, loadedAt: new Date() };
      this.events.loaded({
        keysetHash: doc.keysetHash,
        activeKid: doc.activeKid,
        kids: snapshot.kids,
        changed: true,
      });
    } catch (err) {
      this.events.failed(
        err instanceof KeysetError ? err : new KeysetError('keyset_invalid', 'key set could not be loaded'),
      );
    }
  }

  /** Signs a JWT with the active key; `undefined` when no key set is loaded. */
  async sign(
    claims: Record<string, unknown>,
    opts: {
      subject: string;
      audience: string | string[];
      ttlSeconds: number;
      /** Epoch seconds; default now. Never before now (session revocation may ask for a later one). */
      issuedAt?: number;
      /** The signer's clock, epoch ms (the domain's injected clock); default the system's. */
      nowMs?: number;
    },
  ) {
    const c = this.current;
    if (!c) return undefined;
    const now = Math.max(Math.floor((opts.nowMs ?? Date.now()) / 1000), opts.issuedAt ?? 0);
    const ttl = Math.min(opts.ttlSeconds, c.doc.maxTokenTTLSeconds);
    const jti = randomUUID();
    const published = activeKey(c.doc);
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: published.alg, kid: c.doc.activeKid, typ: 'JWT' })
      .setIssuer(c.doc.issuer)
      .setAudience(opts.audience)
      .setSubject(opts.subject)
      .setJti(jti)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttl)
      .sign(c.signingKey);
    return { token, jti, expiresIn: ttl, kid: c.doc.activeKid };
  }

  /** Verifies a token against the published keys of the loaded set. */
  async verify(token: string, opts: Omit<JwtVerifyOptions, 'issuer'>): Promise<VerifiedJwt> {
    const c = this.current;
    if (!c) throw new KeysetError('keyset_missing', 'no key set loaded');
    return c.snapshot.verify(token, { ...opts, issuer: c.doc.issuer });
  }
}
