/**
 * Security alerts (issue 20, runbook 000 "Integration Gateway", seed 001 Wave 5): conditions a responder
 * acts on, published to `security.alerts.v1` (`SECURITY_ALERT_TOPIC`) through the service's event publisher
 * (its outbox) and, when `SECURITY_ALERT_WEBHOOK_URL` is set, POSTed there as JSON with
 * `Authorization: Bearer <SECURITY_ALERT_WEBHOOK_BEARER>`.
 *
 * The watcher reads counters the service already keeps (no hook in its request path): every `checkMs` it
 * compares each counter with its value one window ago and raises an alert when the increase crosses the
 * rule's threshold; a rule stays quiet for `cooldownMs` after it fired. The event carries the counts only,
 * never a credential (the failures' tokens are not known here).
 */
import { describeError } from './errors.js';
import type { EventPublisher } from './events.js';
import type { Logger } from './log.js';
import { ConfigError, type Env, envReader } from './service-kit/env.js';

export interface AlertRule {
  /** The event type: `gateway_signature_failures`, `gateway_auth_failures`... */
  readonly type: string;
  /** The counter's current total (monotonic). */
  readonly read: () => Promise<number> | number;
  /** Fires when the counter grew by at least this much within the window. */
  readonly threshold: number;
  readonly severity: 'critical' | 'warning';
  readonly description: string;
}

export interface SecurityAlertConfig {
  readonly topic: string;
  readonly webhookUrl: string | undefined;
  readonly webhookBearer: string | undefined;
  /** Signature verification failures per window that raise an alert (seed 001: more than 10 per minute). */
  readonly signatureFailuresPerWindow: number;
  /** Failed authentications of any kind per window that raise an alert. */
  readonly authFailuresPerWindow: number;
  readonly windowSeconds: number;
  readonly checkSeconds: number;
  readonly cooldownSeconds: number;
}

/**
 * `SECURITY_ALERT_TOPIC` (default `security.alerts.v1`), `SECURITY_ALERT_WEBHOOK_URL` (optional, http(s)),
 * `SECURITY_ALERT_WEBHOOK_BEARER` (optional; never logged), `SECURITY_ALERT_SIGNATURE_FAILURES` (default 11:
 * "more than ten per minute"), `SECURITY_ALERT_AUTH_FAILURES` (default 100), `SECURITY_ALERT_WINDOW_SECONDS`
 * (default 60), `SECURITY_ALERT_CHECK_SECONDS` (default 5), `SECURITY_ALERT_COOLDOWN_SECONDS` (default 300).
 */
export function securityAlertConfigFromEnv(env: Env): SecurityAlertConfig {
  const r = envReader(env);
  const webhookUrl = r.optional('SECURITY_ALERT_WEBHOOK_URL');
  if (webhookUrl && !/^https?:\/\/[^\s]+$/.test(webhookUrl))
    throw new ConfigError('SECURITY_ALERT_WEBHOOK_URL must be an http(s) URL');
  const int = (name: string, fallback: number, min: number) => {
    const raw = r.optional(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}`);
    return n;
  };
  return {
    topic: r.optional('SECURITY_ALERT_TOPIC') ?? 'security.alerts.v1',
    webhookUrl,
    webhookBearer: r.optional('SECURITY_ALERT_WEBHOOK_BEARER'),
    signatureFailuresPerWindow: int('SECURITY_ALERT_SIGNATURE_FAILURES', 11, 1),
    authFailuresPerWindow: int('SECURITY_ALERT_AUTH_FAILURES', 100, 1),
    windowSeconds: int('SECURITY_ALERT_WINDOW_SECONDS', 60, 1),
    checkSeconds: int('SECURITY_ALERT_CHECK_SECONDS', 5, 1),
    cooldownSeconds: int('SECURITY_ALERT_COOLDOWN_SECONDS', 300, 0),
  };
}

export class SecurityAlertWatcher {
  private readonly history = new Map<string, { at: number; value: number }[]>();
  private readonly lastFired = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly opts: {
      readonly config: SecurityAlertConfig;
      readonly rules: readonly AlertRule[];
      readonly events: EventPublisher;
      readonly producer: string;
      readonly logger: Logger;
      readonly now?: () => number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.checking ??= this.check()
        .then(() => undefined)
        .finally(() => {
          this.checking = undefined;
        });
    }, this.opts.config.checkSeconds * 1000);
    this.timer.unref();
    void this.check(); // the starting values
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.checking;
  }

  /** One look at every rule; returns the alerts raised (tests call it directly). */
  async check(): Promise<string[]> {
    const now = (this.opts.now ?? Date.now)();
    const windowMs = this.opts.config.windowSeconds * 1000;
    const raised: string[] = [];
    for (const rule of this.opts.rules) {
      let value: number;
      try {
        value = await rule.read();
      } catch {
        continue;
      }
      const points = this.history.get(rule.type) ?? [];
      points.push({ at: now, value });
      // Keep one point at or before the window's start as the reference.
      while (points.length > 1 && (points[1]?.at ?? now) <= now - windowMs) points.shift();
      this.history.set(rule.type, points);
      const increase = value - (points[0]?.value ?? value);
      const last = this.lastFired.get(rule.type);
      const quiet = last !== undefined && now - last < this.opts.config.cooldownSeconds * 1000;
      if (increase >= rule.threshold && !quiet) {
        this.lastFired.set(rule.type, now);
        raised.push(rule.type);
        await this.raise(rule, increase, now);
      }
    }
    return raised;
  }

  private async raise(rule: AlertRule, count: number, now: number): Promise<void> {
    const { config } = this.opts;
    const alert = {
      type: rule.type,
      trace_id: null,
      tenant_id: null,
      user_id: null,
      actor_role: null,
      outcome: 'alert',
      severity: rule.severity,
      description: rule.description,
      count,
      threshold: rule.threshold,
      window_seconds: config.windowSeconds,
      source: this.opts.producer,
      detected_at: new Date(now).toISOString(),
    };
    await this.opts.events.publish(config.topic, alert);
    this.opts.logger.warn(
      { event: 'security_alert', alert_type: rule.type, count, severity: rule.severity },
      'security alert raised',
    );
    if (!config.webhookUrl) return;
    try {
      const res = await fetch(config.webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(config.webhookBearer ? { authorization: `Bearer ${config.webhookBearer}` } : {}),
        },
        body: JSON.stringify(alert),
        signal: AbortSignal.timeout(3000),
      });
      if (!res.ok) throw new Error(`status ${res.status}`);
    } catch (err) {
      this.opts.logger.warn(
        { event: 'security_alert_webhook_failed', alert_type: rule.type, error: describeError(err) },
        'security alert not delivered to the webhook (it is on Kafka)',
      );
    }
  }
}
