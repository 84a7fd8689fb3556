/**
 * One line describing an error for a log record or a status message, whatever was thrown: a Kubernetes API
 * error (`code` + a JSON `body`, as client-node's ApiException has) gives `HTTP 409: <the apiserver's message>`,
 * an Error its message, anything else its string form. Use `errorClass` instead where the message may quote
 * input or a secret (the services' request paths).
 */
export function describeError(err: unknown): string {
  if (isApiError(err)) {
    const body = err.body;
    let message: string | undefined;
    if (typeof body === 'string') {
      try {
        message = (JSON.parse(body) as { message?: string }).message;
      } catch {
        message = undefined;
      }
    } else if (body && typeof body === 'object') {
      message = (body as { message?: string }).message;
    }
    return `HTTP ${err.code}: ${message ?? 'request failed'}`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The error's class name only (`TypeError`, `ConfigError`): safe to log where a message might quote input. */
export function errorClass(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** The `code` property of an error, when it has a string one (`ECONNREFUSED`, `invalid_config`). */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isApiError(err: unknown): err is { code: number; body: unknown } {
  if (!(err instanceof Error) || !('body' in err)) return false;
  const code = (err as unknown as { code?: unknown }).code;
  return typeof code === 'number' && code >= 100;
}
