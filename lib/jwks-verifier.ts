import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from 'jose';

/**
 * JWT verification against a JWKS, shared by auth-service (its own key set), the integration gateway and
 * the rotation-under-load tests.
 *
 * Why not jose's `createRemoteJWKSet` alone: its cache age (`cacheMaxAge`) is fixed when the set is created
 * and ignores the `Cache-Control: max-age` the issuer publishes, while the contract bounds every cache by
 * the key set's `jwksCacheTTLSeconds`, announced through that header. So this module does the fetching
 * and caching (max-age, capped; refetch on an unknown kid at most once per `minRefetchIntervalMs`) and
 * hands each fetched set to jose's `createLocalJWKSet` + `jwtVerify` for key selection and verification.
 *
 * Algorithms are pinned per key: a key without `alg`, or whose `alg` is not allowed, is dropped; a token
 * must name a `kid` and exactly that key's `alg`. So `alg: none`, HS256 "signed" with a public key, or an
 * RSA key used with PS256 when it was published for RS256 are all refused before any signature check.
 */

export const DEFAULT_ALLOWED_ALGORITHMS: readonly string[] = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];

export type JwtFailureReason =
  | 'malformed'
  | 'alg_not_allowed'
  | 'missing_kid'
  | 'unknown_kid'
  | 'signature_invalid'
  | 'expired'
  | 'not_yet_valid'
  | 'claim_invalid'
  | 'jwks_unavailable';

/** A rejected token. `reason` is a bounded label (fit for a metric); the message never contains the token. */
export class JwtVerificationError extends Error {
  override readonly name = 'JwtVerificationError';
  constructor(
    readonly reason: JwtFailureReason,
    message: string,
  ) {
    super(message);
  }
}

export interface JwtVerifyOptions {
  readonly issuer: string | readonly string[];
  readonly audience: string | readonly string[];
  /** Leeway for exp / nbf / iat; default 30 s. */
  readonly clockToleranceSeconds?: number;
  readonly allowedAlgorithms?: readonly string[];
  /** Claims that must be present; default exp, iat, sub. */
  readonly requiredClaims?: readonly string[];
  /** Clock in ms, injectable for tests. */
  readonly now?: () => number;
}

export interface VerifiedJwt {
  readonly payload: JWTPayload & Record<string, unknown>;
  readonly kid: string;
  readonly alg: string;
}

/** A usable key set: only public signing keys with an allowed `alg`, indexed by kid. */
export class JwksSnapshot {
  readonly keysByKid: ReadonlyMap<string, JWK>;
  readonly jwks: JSONWebKeySet;
  private readonly keySet: ReturnType<typeof createLocalJWKSet>;

  constructor(input: JSONWebKeySet, allowedAlgorithms: readonly string[] = DEFAULT_ALLOWED_ALGORITHMS) {
    const byKid = new Map<string, JWK>();
    for (const key of input.keys ?? []) {
      if (!key || typeof key !== 'object') continue;
      if (typeof key.kid !== 'string' || typeof key.alg !== 'string') continue;
      if (!allowedAlgorithms.includes(key.alg)) continue;
      if (key.use !== undefined && key.use !== 'sig') continue;
      if ('d' in key || key.kty === 'oct') continue; // private or symmetric material has no place in a JWKS
      if (!byKid.has(key.kid)) byKid.set(key.kid, key);
    }
    this.keysByKid = byKid;
    this.jwks = { keys: [...byKid.values()] };
    this.keySet = createLocalJWKSet(this.jwks);
  }

  get kids(): string[] {
    return [...this.keysByKid.keys()];
  }

  /** Verifies `token` against this snapshot; throws JwtVerificationError. */
  async verify(token: string, opts: JwtVerifyOptions): Promise<VerifiedJwt> {
    const { kid, alg } = checkHeader(token, opts.allowedAlgorithms ?? DEFAULT_ALLOWED_ALGORITHMS);
    const key = this.keysByKid.get(kid);
    if (!key) throw new JwtVerificationError('unknown_kid', 'token signed by an unknown key');
    if (key.alg !== alg)
      throw new JwtVerificationError('alg_not_allowed', `token alg does not match the key's alg`);
    const nowMs = opts.now?.();
    try {
      const { payload } = await jwtVerify(token, this.keySet, {
        algorithms: [key.alg],
        issuer: opts.issuer as string | string[],
        audience: opts.audience as string | string[],
        clockTolerance: opts.clockToleranceSeconds ?? 30,
        requiredClaims: [...(opts.requiredClaims ?? ['exp', 'iat', 'sub'])],
        ...(nowMs !== undefined ? { currentDate: new Date(nowMs) } : {}),
      });
      return { payload: payload as VerifiedJwt['payload'], kid, alg };
    } catch (err) {
      throw mapJoseError(err);
    }
  }
}

/** Decodes and checks the protected header: an allowed alg and a kid. */
export function checkHeader(
  token: string,
  allowedAlgorithms: readonly string[],
): { kid: string; alg: string } {
  if (typeof token !== 'string' || token.split('.').length !== 3) {
    throw new JwtVerificationError('malformed', 'not a compact JWS');
  }
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new JwtVerificationError('malformed', 'unreadable token header');
  }
  if (typeof header.alg !== 'string' || !allowedAlgorithms.includes(header.alg)) {
    throw new JwtVerificationError('alg_not_allowed', 'token algorithm not allowed');
  }
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new JwtVerificationError('missing_kid', 'token header has no kid');
  }
  if (header.crit !== undefined) throw new JwtVerificationError('malformed', 'unsupported critical header');
  return { kid: header.kid, alg: header.alg };
}

function mapJoseError(err: unknown): JwtVerificationError {
  if (err instanceof JwtVerificationError) return err;
  if (err instanceof errors.JWTExpired) return new JwtVerificationError('expired', 'token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || (err.claim === 'iat' && err.reason === 'check_failed')) {
      return new JwtVerificationError('not_yet_valid', 'token not yet valid');
    }
    return new JwtVerificationError('claim_invalid', `claim ${err.claim} invalid`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new JwtVerificationError('signature_invalid', 'signature verification failed');
  }
  if (err instanceof errors.JWKSNoMatchingKey)
    return new JwtVerificationError('unknown_kid', 'no matching key');
  if (err instanceof errors.JOSEAlgNotAllowed)
    return new JwtVerificationError('alg_not_allowed', 'algorithm not allowed');
  return new JwtVerificationError('malformed', 'token could not be verified');
}

/** Parses `max-age` from a Cache-Control header; `no-store`/`no-cache` count as 0; absent → undefined. */
export function parseMaxAge(cacheControl: string | null | undefined): number | undefined {
  if (!cacheControl) return undefined;
  const directives = cacheControl
    .toLowerCase()
    .split(',')
    .map((d) => d.trim());
  if (directives.includes('no-store') || directives.includes('no-cache')) return 0;
  for (const d of directives) {
    const m = /^max-age=(\d+)$/.exec(d);
    if (m) return Number(m[1]);
  }
  return undefined;
}

export interface RemoteJwksVerifierOptions extends JwtVerifyOptions {
  readonly jwksUrl: string;
  /** Upper bound on how long a fetched set is used, whatever max-age says; default 300 s. */
  readonly maxCacheSeconds?: number;
  /** Cache age when the answer has no max-age; default 60 s (still capped by maxCacheSeconds). */
  readonly defaultCacheSeconds?: number;
  /** Minimum time between two fetches (unknown-kid refetch, expired cache); default 10 s. */
  readonly minRefetchIntervalMs?: number;
  readonly fetchTimeoutMs?: number;
  /** Injectable for unit tests; the real `fetch` otherwise. */
  readonly fetch?: typeof fetch;
  /** Called after each fetch attempt (for logs / metrics); never receives key material. */
  readonly onFetch?: (info: { ok: boolean; kids: string[]; cacheSeconds: number; error?: string }) => void;
}

/**
 * Verifies tokens against a remote JWKS (auth-service's `/.well-known/jwks.json`), cached for at most
 * `min(max-age, maxCacheSeconds)`, refetched on an unknown kid no more often than `minRefetchIntervalMs`.
 * Concurrent callers share one fetch. Past its age the set is not used: if a refetch fails, tokens are
 * rejected with `jwks_unavailable` rather than checked against keys that may have been revoked.
 */
export class RemoteJwksVerifier {
  private snapshot: JwksSnapshot | undefined;
  private snapshotHash: string | undefined;
  private snapshotLoadedAt: number | undefined;
  private expiresAt = 0;
  private lastFetchAt = Number.NEGATIVE_INFINITY;
  private lastFetchFailed = false;
  private inFlight: Promise<JwksSnapshot> | undefined;
  private reloadAfter: Promise<JwksSnapshot> | undefined;
  private readonly now: () => number;
  private readonly allowed: readonly string[];

  constructor(private readonly opts: RemoteJwksVerifierOptions) {
    this.now = opts.now ?? Date.now;
    this.allowed = opts.allowedAlgorithms ?? DEFAULT_ALLOWED_ALGORITHMS;
  }

  /** Kids of the cached set (empty before the first fetch). */
  get kids(): string[] {
    return this.snapshot?.kids ?? [];
  }

  /** When the cached set stops being used (ms since epoch), 0 before the first fetch. */
  get cacheExpiresAt(): number {
    return this.expiresAt;
  }

  async verify(token: string): Promise<VerifiedJwt> {
    // Header first: a token with a forbidden alg or no kid never causes a fetch.
    const { kid } = checkHeader(token, this.allowed);
    let snap = await this.current();
    if (
      !snap.keysByKid.has(kid) &&
      this.now() - this.lastFetchAt >= (this.opts.minRefetchIntervalMs ?? 10_000)
    ) {
      snap = await this.refresh();
    }
    return snap.verify(token, this.opts);
  }

  /**
   * What this verifier has loaded, in the shape of the contracts' `GET /keys/status`: the issuer's key-set
   * hash (its `X-Keyset-Hash` response header) and the published kids. A verifier does not sign, so it
   * knows no active kid.
   */
  keyStatus(): { keysetHash: string | null; kids: string[]; activeKid: null; loadedAt: string | null } {
    return {
      keysetHash: this.snapshotHash ?? null,
      kids: this.kids,
      activeKid: null,
      loadedAt: this.snapshotLoadedAt === undefined ? null : new Date(this.snapshotLoadedAt).toISOString(),
    };
  }

  /** Fetches the set now (sharing a fetch already under way). */
  refresh(): Promise<JwksSnapshot> {
    this.inFlight ??= this.fetchSnapshot().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * `POST /keys/reload`: a fetch that starts now. A fetch already under way may have started before the
   * issuer loaded what the notification is about, so the reload fetches once more after it (reloads asked
   * meanwhile share that one).
   */
  reload(): Promise<JwksSnapshot> {
    if (!this.inFlight) return this.refresh();
    this.reloadAfter ??= this.inFlight
      .catch(() => undefined)
      .then(() => {
        this.reloadAfter = undefined;
        return this.refresh();
      });
    return this.reloadAfter;
  }

  private async current(): Promise<JwksSnapshot> {
    if (this.snapshot && this.now() < this.expiresAt) return this.snapshot;
    if (this.inFlight) return this.inFlight;
    // The set is past its age and the last fetch failed within the refetch interval: do not hammer the issuer.
    if (this.lastFetchFailed && this.now() - this.lastFetchAt < (this.opts.minRefetchIntervalMs ?? 10_000)) {
      throw new JwtVerificationError('jwks_unavailable', 'key set unavailable');
    }
    return this.refresh();
  }

  private async fetchSnapshot(): Promise<JwksSnapshot> {
    this.lastFetchAt = this.now();
    const doFetch = this.opts.fetch ?? fetch;
    try {
      const res = await doFetch(this.opts.jwksUrl, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.opts.fetchTimeoutMs ?? 5000),
      });
      if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
      const body = (await res.json()) as JSONWebKeySet;
      if (!body || !Array.isArray(body.keys)) throw new Error('JWKS has no keys array');
      const snap = new JwksSnapshot(body, this.allowed);
      const cap = this.opts.maxCacheSeconds ?? 300;
      const maxAge = parseMaxAge(res.headers.get('cache-control')) ?? this.opts.defaultCacheSeconds ?? 60;
      const cacheSeconds = Math.max(0, Math.min(maxAge, cap));
      const hash = res.headers.get('x-keyset-hash') ?? undefined;
      // `loadedAt` is when this verifier first loaded the set it reports, as auth-service reports it: a
      // refetch of the same set (its cache expiring under traffic, a reload) does not move it. The operator
      // lets a next key sign once every listed service has held the set for jwksCacheTTL from its loadedAt;
      // moved on every refetch, that wait restarted each TTL and, across replicas, never ended.
      if (hash === undefined || hash !== this.snapshotHash) this.snapshotLoadedAt = this.now();
      this.snapshot = snap;
      this.snapshotHash = hash;
      // The issuer's max-age is honoured even when short (a key set's jwksCacheTTL is what lets a new key
      // sign after its lead time); `no-store` or max-age=0 falls back to the refetch interval, so it cannot
      // turn every request into a fetch.
      this.expiresAt =
        this.lastFetchAt +
        (cacheSeconds > 0 ? cacheSeconds * 1000 : (this.opts.minRefetchIntervalMs ?? 10_000));
      this.lastFetchFailed = false;
      this.opts.onFetch?.({ ok: true, kids: snap.kids, cacheSeconds });
      return snap;
    } catch (err) {
      this.lastFetchFailed = true;
      const message = err instanceof Error ? err.message : 'fetch failed';
      this.opts.onFetch?.({ ok: false, kids: this.kids, cacheSeconds: 0, error: message });
      // A set still inside its age keeps working through a failed unknown-kid refetch.
      if (this.snapshot && this.now() < this.expiresAt) return this.snapshot;
      throw new JwtVerificationError('jwks_unavailable', 'key set unavailable');
    }
  }
}

export function createRemoteJwksVerifier(opts: RemoteJwksVerifierOptions): RemoteJwksVerifier {
  return new RemoteJwksVerifier(opts);
}
