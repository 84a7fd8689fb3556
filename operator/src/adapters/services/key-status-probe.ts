/**
 * The services' key endpoints (docs/contracts.md): `GET /keys/status` answers which key set a service has
 * loaded; `POST /keys/reload` (no body, 202) makes it re-read Vault now. Public data only both ways.
 */
export interface KeyStatusReport {
  readonly keysetHash: string | null;
  readonly kids: readonly string[];
  readonly activeKid: string | null;
  readonly loadedAt: string | null;
}

export interface KeyStatusProbe {
  /** Throws ServiceProbeError when the service cannot be reached or answers something else. */
  status(url: string, signal?: AbortSignal): Promise<KeyStatusReport>;
  /** Best effort: resolves false (never throws) when the notification did not get through. */
  reload(url: string, signal?: AbortSignal): Promise<boolean>;
}

export class ServiceProbeError extends Error {
  override readonly name = 'ServiceProbeError';
  constructor(
    readonly code: 'unreachable' | 'timeout' | 'bad_status' | 'bad_body',
    message: string,
  ) {
    super(message);
  }
}

/** The reload URL of a service: `reloadURL`, or `statusURL` with its last `/keys/status` turned into `/keys/reload`. */
export function reloadUrlOf(service: { statusURL: string; reloadURL?: string }): string {
  if (service.reloadURL) return service.reloadURL;
  return service.statusURL.replace(/\/keys\/status(\/?)(\?.*)?$/, '/keys/reload$1');
}

export interface HttpKeyStatusProbeOptions {
  /** Per request; default 3000 ms. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** KeyStatusProbe over fetch. Error messages name the URL's origin and path and the HTTP status, never a body. */
export class HttpKeyStatusProbe implements KeyStatusProbe {
  private readonly timeoutMs: number;
  private readonly doFetch: typeof fetch;

  constructor(opts: HttpKeyStatusProbeOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.doFetch = opts.fetch ?? fetch;
  }

  async status(url: string, signal?: AbortSignal): Promise<KeyStatusReport> {
    const where = describeUrl(url);
    let res: Response;
    try {
      res = await this.doFetch(url, { headers: { accept: 'application/json' }, signal: this.signal(signal) });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new ServiceProbeError(
        timedOut ? 'timeout' : 'unreachable',
        `GET ${where}: ${timedOut ? 'timed out' : 'unreachable'}`,
      );
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new ServiceProbeError('bad_status', `GET ${where} answered ${res.status}`);
    }
    let body: Record<string, unknown>;
    try {
      body = (await res.json()) as Record<string, unknown>;
    } catch {
      throw new ServiceProbeError('bad_body', `GET ${where}: answer is not JSON`);
    }
    const hash = body['keysetHash'];
    const kids = body['kids'];
    if ((hash !== null && typeof hash !== 'string') || !Array.isArray(kids)) {
      throw new ServiceProbeError('bad_body', `GET ${where}: answer lacks keysetHash/kids`);
    }
    return {
      keysetHash: hash,
      kids: kids.filter((k): k is string => typeof k === 'string'),
      activeKid: typeof body['activeKid'] === 'string' ? body['activeKid'] : null,
      loadedAt: typeof body['loadedAt'] === 'string' ? body['loadedAt'] : null,
    };
  }

  async reload(url: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const res = await this.doFetch(url, { method: 'POST', signal: this.signal(signal) });
      await res.body?.cancel();
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    }
  }

  private signal(outer?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return outer ? AbortSignal.any([outer, timeout]) : timeout;
  }
}

/** `http://host:port/path` without credentials or query, for messages. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'invalid URL';
  }
}
