import { errorClass } from '../../../../lib/errors.js';
import type { ServiceAnswerError } from './ports.js';

const REQUEST_TIMEOUT_MS = 10_000;

export interface ServiceCall {
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal;
  /** Non-2xx statuses that are answers, not errors (e.g. 409 of /audit/verify). */
  readonly okStatuses?: readonly number[];
}

/**
 * One request of a drill adapter to a NovaPOS service, bounded to 10 s: the status and body text, or an
 * error built by `fail(status, code)` from the JSON error envelope's code (never the body, never a header: a
 * token stays out of every message). Unreachable and timed-out calls say so, naming `what`.
 */
export async function callService(
  fetchImpl: typeof fetch,
  url: string,
  what: string,
  call: ServiceCall,
  fail: (status: number, code: string) => ServiceAnswerError,
): Promise<{ status: number; text: string }> {
  const signal = call.signal
    ? AbortSignal.any([call.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)])
    : AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetchImpl(url, { method: call.method, headers: call.headers, body: call.body, signal });
  } catch (err) {
    throw new Error(`${what}: ${errorClass(err) === 'TimeoutError' ? 'timed out' : 'unreachable'}`);
  }
  const text = await res.text();
  if (!res.ok && !call.okStatuses?.includes(res.status)) {
    let code = 'error';
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? code;
    } catch {
      // not the JSON error envelope
    }
    throw fail(res.status, code);
  }
  return { status: res.status, text };
}
