/**
 * Typed readers of environment variables, shared by the operator and every service. Each reader trims, treats
 * an empty value as unset, and throws a `ConfigError` whose message is one line a person can act on:
 * `NAME=value: must be ...`. The value is never shown for a variable that can hold a secret.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
}

/** A parser's own error (it names the entry and the format) becomes the one ConfigError a service exits on. */
export function asConfigError<T>(read: () => T, own: new (...args: never[]) => Error): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof own) throw new ConfigError(err.message);
    throw err;
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Variables whose value is never quoted in an error: tokens, passwords, keys, credentials in URLs. */
const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|BEARER|KEY|CREDENTIAL|DATABASE_(\w+_)?URL|REDIS_URL)/i;

/** `scheme://user:password@host` → `scheme://[redacted]@host`: a URL's credentials are never quoted either. */
const URL_CREDENTIALS = /(\/\/)[^/@\s]*@/g;

export function invalid(name: string, value: string, must: string): ConfigError {
  const shown = SECRET_NAME.test(name) ? '[redacted]' : value.replace(URL_CREDENTIALS, '$1[redacted]@');
  return new ConfigError(`${name}=${shown}: ${must}`);
}

const HTTP: readonly string[] = ['http:', 'https:'];

/** The readers over one environment. */
export function envReader(env: Env) {
  const raw = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  return {
    /** The trimmed value, or undefined when unset or empty. */
    optional: raw,
    string(name: string, fallback: string): string {
      return raw(name) ?? fallback;
    },
    required(name: string): string {
      const v = raw(name);
      if (v === undefined) throw new ConfigError(`${name} is required`);
      return v;
    },
    int(name: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
      const v = raw(name);
      if (v === undefined) return fallback;
      const n = Number(v);
      const { min = 0, max = Number.MAX_SAFE_INTEGER } = bounds;
      if (!/^-?\d+$/.test(v) || n < min || n > max) {
        throw invalid(
          name,
          v,
          max === Number.MAX_SAFE_INTEGER
            ? `must be a whole number >= ${min}`
            : `must be a whole number from ${min} to ${max}`,
        );
      }
      return n;
    },
    /** A number above 0 (rates, ratios). */
    positive(name: string, fallback: number): number {
      const v = raw(name);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw invalid(name, v, 'must be a number above 0');
      return n;
    },
    port(name: string, fallback: number): number {
      const v = raw(name);
      if (v === undefined) return fallback;
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw invalid(name, v, 'must be a port number 0-65535');
      return Number(v);
    },
    bool(name: string, fallback: boolean): boolean {
      const v = raw(name);
      if (v === undefined) return fallback;
      if (/^(1|true|yes|on)$/i.test(v)) return true;
      if (/^(0|false|no|off)$/i.test(v)) return false;
      throw invalid(name, v, 'must be true or false');
    },
    /** Comma-separated, blanks dropped. */
    list(name: string, fallback: readonly string[]): string[] {
      const v = raw(name);
      if (v === undefined) return [...fallback];
      return v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    },
    /** One of the given words. */
    oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
      const v = raw(name);
      if (v === undefined) return fallback;
      if (!(choices as readonly string[]).includes(v))
        throw invalid(name, v, `must be one of ${choices.join(', ')}`);
      return v as T;
    },
    /**
     * A URL whose scheme is one of `protocols` (default http and https), trailing slashes removed. The
     * message names the schemes: `REDIS_URL=[redacted]: must be a redis: or rediss: URL`.
     */
    url(name: string, protocols: readonly string[] = HTTP): string | undefined {
      const v = raw(name);
      if (v === undefined) return undefined;
      const must = protocols === HTTP ? 'must be an http(s) URL' : `must be a ${protocols.join(' or ')} URL`;
      let u: URL;
      try {
        u = new URL(v);
      } catch {
        throw invalid(name, v, must);
      }
      if (!protocols.includes(u.protocol)) throw invalid(name, v, must);
      return v.replace(/\/+$/, '');
    },
    /** A value a parser turns into T; the parser throws on anything it refuses. */
    parsed<T>(name: string, fallback: T, parse: (text: string) => T, must: string): T {
      const v = raw(name);
      if (v === undefined) return fallback;
      try {
        return parse(v);
      } catch {
        throw invalid(name, v, must);
      }
    },
  };
}

export type EnvReader = ReturnType<typeof envReader>;
