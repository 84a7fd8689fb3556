import { generate } from 'otplib';
import { callService } from './http.js';
import {
  type CreatedApiKey,
  ServiceAnswerError,
  type SyntheticCredentials,
  type SyntheticSession,
  type SyntheticTenantAdmin,
} from './ports.js';

const TOTP_PERIOD_SECONDS = 30;

/** An auth-service answer that was not a success: status and error code, never the body's secrets. */
export class AuthServiceError extends ServiceAnswerError {
  override readonly name = 'AuthServiceError';
  constructor(status: number, code: string, what: string) {
    super(status, code, `auth-service ${what}: HTTP ${status} ${code}`);
  }
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

/**
 * The synthetic tenant's admin, signed in through auth-service's own API (login with TOTP, refresh, API
 * keys, logout-all). Tokens, the password, the TOTP secret and API keys stay in memory and never appear in
 * an error message.
 */
export class HttpSyntheticTenantAdmin implements SyntheticTenantAdmin {
  constructor(
    private readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private async call<T>(
    what: string,
    method: string,
    path: string,
    tenant: string,
    opts: { body?: unknown; token?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { 'x-tenant-id': tenant };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
    const { text } = await callService(
      this.fetchImpl,
      `${this.baseUrl}${path}`,
      `auth-service ${what}`,
      {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      },
      (status, code) => new AuthServiceError(status, code, what),
    );
    return (text ? JSON.parse(text) : {}) as T;
  }

  async signIn(
    tenant: string,
    credentials: SyntheticCredentials,
    signal: AbortSignal,
  ): Promise<SyntheticSession> {
    const login = (mfaCode?: string) =>
      this.call<Tokens>('login', 'POST', '/login', tenant, {
        body: { email: credentials.email, password: credentials.password, ...(mfaCode ? { mfaCode } : {}) },
        signal,
      });
    let tokens: Tokens | undefined;
    if (!credentials.totpSecret) {
      try {
        tokens = await login();
      } catch (err) {
        if (err instanceof AuthServiceError && err.code === 'mfa_required')
          throw new Error('the synthetic admin has MFA: add totpSecret to the credentials Secret');
        throw err;
      }
    } else {
      // A TOTP step is accepted once: a sign-in right after another (cleanup after a restart) uses the
      // next step's code (inside the ±1 window), or waits for a fresh step.
      const secret = credentials.totpSecret;
      for (let attempt = 0; !tokens; attempt++) {
        const epoch = Math.floor(Date.now() / 1000) + (attempt % 2) * TOTP_PERIOD_SECONDS;
        try {
          tokens = await login(await generate({ secret, epoch }));
        } catch (err) {
          if (!(err instanceof AuthServiceError) || err.code !== 'mfa_invalid' || attempt >= 3) throw err;
          if (attempt % 2 === 1) {
            const left = TOTP_PERIOD_SECONDS - (Math.floor(Date.now() / 1000) % TOTP_PERIOD_SECONDS);
            await new Promise((r) => setTimeout(r, left * 1000 + 200));
          }
        }
      }
    }
    return new HttpSession(this, tenant, tokens);
  }

  /** @internal used by sessions */
  request<T>(
    what: string,
    method: string,
    path: string,
    tenant: string,
    opts: { body?: unknown; token?: string },
  ) {
    return this.call<T>(what, method, path, tenant, opts);
  }
}

class HttpSession implements SyntheticSession {
  constructor(
    private readonly admin: HttpSyntheticTenantAdmin,
    private readonly tenant: string,
    private tokens: Tokens,
  ) {}

  accessToken(): string {
    return this.tokens.accessToken;
  }

  async refresh(): Promise<string> {
    this.tokens = await this.admin.request<Tokens>('refresh', 'POST', '/refresh', this.tenant, {
      body: { refreshToken: this.tokens.refreshToken },
    });
    return this.tokens.accessToken;
  }

  async createApiKey(name: string): Promise<CreatedApiKey> {
    const out = await this.admin.request<{ id: string; prefix: string; key: string }>(
      'create API key',
      'POST',
      '/api-keys',
      this.tenant,
      { body: { name, expiresInDays: 1 }, token: this.tokens.accessToken },
    );
    return { id: out.id, prefix: out.prefix, key: out.key };
  }

  async listApiKeys(): Promise<readonly { id: string; name: string }[]> {
    const out = await this.admin.request<{
      apiKeys: { id: string; name: string; revokedAt: string | null }[];
    }>('list API keys', 'GET', '/api-keys', this.tenant, { token: this.tokens.accessToken });
    return out.apiKeys.filter((k) => !k.revokedAt).map((k) => ({ id: k.id, name: k.name }));
  }

  async revokeApiKey(id: string): Promise<void> {
    try {
      await this.admin.request(
        'revoke API key',
        'DELETE',
        `/api-keys/${encodeURIComponent(id)}`,
        this.tenant,
        {
          token: this.tokens.accessToken,
        },
      );
    } catch (err) {
      if (!(err instanceof AuthServiceError && err.status === 404)) throw err;
    }
  }

  async logoutAll(): Promise<void> {
    await this.admin.request('logout-all', 'POST', '/logout-all', this.tenant, {
      token: this.tokens.accessToken,
    });
  }
}
