import { afterCommit } from './ambient-tx.js';
import type { Logger } from './log.js';

/**
 * Security and audit events (runbook 001: `security.mfa.activity`, `audit.events.v1`). Every event carries
 * the correlation fields the log pipeline joins on: `trace_id`, `tenant_id`, `user_id`, `actor_role`.
 * Values are identifiers and outcomes only: never a password, code, token or key.
 */
export interface SecurityEvent {
  /** What happened, snake_case: `login_failed`, `mfa_enrolled`, `refresh_token_reuse_detected`, ... */
  readonly type: string;
  readonly trace_id: string | null;
  readonly tenant_id: string | null;
  readonly user_id: string | null;
  readonly actor_role: string | null;
  readonly outcome?: string;
  readonly [field: string]: unknown;
}

export interface EventPublisher {
  /** Never throws: a failed publish is reported by the publisher, not by the caller's request. */
  publish(topic: string, event: SecurityEvent): Promise<void>;
  close(): Promise<void>;
}

/**
 * Writes each event as one JSON log record (`msg: "security_event"`, `topic`, then the event's fields),
 * for the central log pipeline. A Kafka publisher can implement the same interface later.
 */
export class LogEventPublisher implements EventPublisher {
  constructor(private readonly logger: Logger) {}

  /** Inside an ambient transaction the line is written once it commits: no line for a rolled-back change. */
  async publish(topic: string, event: SecurityEvent): Promise<void> {
    const at = new Date().toISOString();
    afterCommit(() => this.logger.info({ topic, at, ...event }, 'security_event'));
  }

  async close(): Promise<void> {}
}

/** Sends each event to several publishers (the log always, Kafka when configured). */
export class FanOutEventPublisher implements EventPublisher {
  constructor(private readonly publishers: readonly EventPublisher[]) {}

  async publish(topic: string, event: SecurityEvent): Promise<void> {
    await Promise.all(this.publishers.map((p) => p.publish(topic, event)));
  }

  async close(): Promise<void> {
    await Promise.all(this.publishers.map((p) => p.close()));
  }
}
