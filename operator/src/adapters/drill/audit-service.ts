import { callService } from './http.js';
import {
  type AuditAdmin,
  type AuditConsumerState,
  type AuditVerification,
  type ChainedEvent,
  ServiceAnswerError,
} from './ports.js';

/** The audit-service's page bound for GET /audit/events. */
const PAGE = 500;
/** At most this many pages per call: a tenant's events of one drill step are far fewer. */
const MAX_PAGES = 20;

/** An answer of the audit-service's admin port that was not a success: status and error code only. */
export class AuditAdminError extends ServiceAnswerError {
  override readonly name = 'AuditAdminError';
  constructor(status: number, code: string, what: string) {
    super(status, code, `audit-service ${what}: HTTP ${status} ${code}`);
  }
}

/** One sample's value from Prometheus text, summed over its series; undefined when absent. */
export function metricSum(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** audit_consumer_lag (summed over topics), audit_chain_length and audit_consumer_paused from /metrics. */
export function consumerStateFromText(text: string): AuditConsumerState {
  const head = metricSum(text, 'audit_chain_length');
  if (head === undefined)
    throw new Error('the audit-service /metrics has no audit_chain_length: is this the audit-service?');
  return {
    lag: metricSum(text, 'audit_consumer_lag') ?? 0,
    head,
    paused: (metricSum(text, 'audit_consumer_paused') ?? 0) > 0,
  };
}

/**
 * The audit-service's admin port over HTTP (services/audit-service/src/server.ts): POST
 * /audit/consumer/pause?seconds=N and /audit/consumer/resume with the bearer token, GET /metrics, GET
 * /audit/events (the token reads every tenant) and GET /audit/verify. The token goes in the Authorization
 * header only; errors carry the status and the error code, never a body or the token.
 */
export class HttpAuditAdmin implements AuditAdmin {
  constructor(
    private readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private call(
    what: string,
    method: string,
    path: string,
    opts: { token?: string; signal?: AbortSignal; okStatuses?: readonly number[] } = {},
  ): Promise<{ status: number; text: string }> {
    return callService(
      this.fetchImpl,
      `${this.baseUrl}${path}`,
      `audit-service ${what} at ${this.baseUrl}`,
      {
        method,
        headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        signal: opts.signal,
        okStatuses: opts.okStatuses,
      },
      (status, code) => new AuditAdminError(status, code, what),
    );
  }

  async pause(token: string, seconds: number, signal?: AbortSignal): Promise<void> {
    await this.call('pause', 'POST', `/audit/consumer/pause?seconds=${Math.ceil(seconds)}`, {
      token,
      signal,
    });
  }

  async resume(token: string, signal?: AbortSignal): Promise<void> {
    await this.call('resume', 'POST', '/audit/consumer/resume', { token, signal });
  }

  async state(signal?: AbortSignal): Promise<AuditConsumerState> {
    return consumerStateFromText((await this.call('metrics', 'GET', '/metrics', { signal })).text);
  }

  async chained(
    token: string,
    tenant: string,
    afterSeq: number,
    signal?: AbortSignal,
  ): Promise<ChainedEvent[]> {
    const out: ChainedEvent[] = [];
    let after: number | null = afterSeq;
    for (let page = 0; after !== null && page < MAX_PAGES; page++) {
      const q = new URLSearchParams({ tenant_id: tenant, after_seq: String(after), limit: String(PAGE) });
      const { text } = await this.call('events query', 'GET', `/audit/events?${q}`, { token, signal });
      const body = JSON.parse(text) as {
        events: { seq: number; event: { type?: string; data?: { api_key_id?: unknown } } }[];
        next_after_seq: number | null;
      };
      for (const e of body.events) {
        const id = e.event.data?.api_key_id;
        out.push({
          seq: e.seq,
          type: e.event.type ?? '',
          ...(typeof id === 'string' ? { apiKeyId: id } : {}),
        });
      }
      after = body.next_after_seq;
    }
    return out;
  }

  async verify(signal?: AbortSignal): Promise<AuditVerification> {
    // 409: the chain is broken; the body names the first broken link.
    const { text } = await this.call('verify', 'GET', '/audit/verify', { signal, okStatuses: [409] });
    const body = JSON.parse(text) as AuditVerification;
    return {
      ok: body.ok === true,
      checked: Number(body.checked) || 0,
      ...(body.firstBroken
        ? { firstBroken: { seq: body.firstBroken.seq, reason: body.firstBroken.reason } }
        : {}),
    };
  }
}
