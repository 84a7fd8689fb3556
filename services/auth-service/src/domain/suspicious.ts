import { createHash } from 'node:crypto';
import type { Logger } from '../../../../lib/log.js';

/**
 * Suspicious-login rules (runbook 001, Wave 5) and the rate-limited webhook to the security channel.
 *
 * Rules:
 * - `success_after_failures`: a successful login to an account that had at least N consecutive failures
 *   (credential stuffing or guessing that finally worked). Reads the durable failure count, so it holds
 *   across replicas.
 * - `ip_many_accounts`: one client IP failing on at least M distinct accounts within the window (password
 *   spraying). Counted in this replica's memory.
 */
export type SuspiciousRule = 'success_after_failures' | 'ip_many_accounts';

export interface SuspiciousAlert {
  readonly rule: SuspiciousRule;
  readonly tenant: string;
  readonly userId: string | null;
  readonly ip: string;
  readonly deviceFingerprint: string;
  readonly traceId: string;
  readonly detail: Record<string, number>;
}

/** A short stable fingerprint of the client (user agent + accept-language), hashed: no raw header values. */
export function deviceFingerprint(userAgent: string | undefined, acceptLanguage: string | undefined): string {
  return createHash('sha256')
    .update(`${userAgent ?? ''}\n${acceptLanguage ?? ''}`)
    .digest('hex')
    .slice(0, 16);
}

export class SuspiciousLoginDetector {
  private readonly failuresByIp = new Map<string, Map<string, number>>();

  constructor(
    private readonly opts: {
      failuresBeforeSuccess: number;
      distinctAccountsPerIp: number;
      windowSeconds: number;
    },
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a failed login; returns the rule it triggers, if any. */
  onFailure(ip: string, accountKey: string): { rule: 'ip_many_accounts'; accounts: number } | undefined {
    const cutoff = this.now() - this.opts.windowSeconds * 1000;
    let accounts = this.failuresByIp.get(ip);
    if (!accounts) {
      accounts = new Map();
      this.failuresByIp.set(ip, accounts);
    }
    accounts.set(accountKey, this.now());
    for (const [k, at] of accounts) if (at < cutoff) accounts.delete(k);
    this.prune(cutoff);
    if (accounts.size >= this.opts.distinctAccountsPerIp)
      return { rule: 'ip_many_accounts', accounts: accounts.size };
    return undefined;
  }

  /** Checks a successful login given the failures the account had before it. */
  onSuccess(previousFailures: number): { rule: 'success_after_failures'; failures: number } | undefined {
    return previousFailures >= this.opts.failuresBeforeSuccess
      ? { rule: 'success_after_failures', failures: previousFailures }
      : undefined;
  }

  private prune(cutoff: number): void {
    if (this.failuresByIp.size < 10_000) return;
    for (const [ip, accounts] of this.failuresByIp) {
      for (const [k, at] of accounts) if (at < cutoff) accounts.delete(k);
      if (accounts.size === 0) this.failuresByIp.delete(ip);
    }
  }
}

export interface WebhookResult {
  readonly result: 'sent' | 'failed' | 'suppressed' | 'disabled';
}

/**
 * Posts alerts to SECURITY_SUSPICIOUS_WEBHOOK_URL with the bearer token: at most one per (rule, subject)
 * per min interval, and at most maxPerMinute overall, so an attack cannot flood the channel.
 */
export class SuspiciousWebhook {
  private readonly lastSent = new Map<string, number>();
  private sentThisMinute: number[] = [];

  constructor(
    private readonly opts: {
      url: string | undefined;
      bearer: string | undefined;
      minIntervalSeconds: number;
      maxPerMinute: number;
      logger: Logger;
      fetch?: typeof fetch;
      now?: () => number;
    },
  ) {}

  async notify(alert: SuspiciousAlert): Promise<WebhookResult> {
    if (!this.opts.url) return { result: 'disabled' };
    const now = (this.opts.now ?? Date.now)();
    const subject = alert.rule === 'ip_many_accounts' ? `ip:${alert.ip}` : `user:${alert.userId}`;
    const key = `${alert.rule}|${alert.tenant}|${subject}`;
    const last = this.lastSent.get(key);
    this.sentThisMinute = this.sentThisMinute.filter((t) => now - t < 60_000);
    if (
      (last !== undefined && now - last < this.opts.minIntervalSeconds * 1000) ||
      this.sentThisMinute.length >= this.opts.maxPerMinute
    ) {
      return { result: 'suppressed' };
    }
    this.lastSent.set(key, now);
    this.sentThisMinute.push(now);
    if (this.lastSent.size > 10_000) {
      for (const [k, at] of this.lastSent)
        if (now - at >= this.opts.minIntervalSeconds * 1000) this.lastSent.delete(k);
    }
    const body = {
      type: 'suspicious_login',
      rule: alert.rule,
      tenant: alert.tenant,
      user: alert.userId,
      ip: alert.ip,
      device_fingerprint: alert.deviceFingerprint,
      trace_id: alert.traceId,
      detail: alert.detail,
      at: new Date(now).toISOString(),
      text: `Suspicious login (${alert.rule}) for tenant ${alert.tenant} from ${alert.ip}`,
    };
    try {
      const res = await (this.opts.fetch ?? fetch)(this.opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(this.opts.bearer ? { authorization: `Bearer ${this.opts.bearer}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) throw new Error(`webhook answered ${res.status}`);
      await res.body?.cancel();
      return { result: 'sent' };
    } catch (err) {
      this.opts.logger.warn(
        {
          event: 'suspicious_webhook_failed',
          rule: alert.rule,
          error: err instanceof Error ? err.message : 'failed',
        },
        'suspicious-login webhook failed',
      );
      return { result: 'failed' };
    }
  }
}
