import { Consumer, type Message, stringDeserializers } from '@platformatic/kafka';
import { errorClass } from '../../../lib/errors.js';
import type { KafkaClientConfig } from '../../../lib/kafka-events.js';
import type { Logger } from '../../../lib/log.js';
import { parseEnvelope } from './domain/envelope.js';
import type { AppendResult, IncomingEvent } from './storage/repo.js';

type Msg = Message<string, string, string, string>;

export interface ChainConsumerOptions {
  readonly kafka: KafkaClientConfig;
  readonly group: string;
  readonly topics: readonly string[];
  readonly batchSize: number;
  readonly logger: Logger;
  /** Appends a batch durably; offsets are committed only after it resolves. */
  readonly append: (events: readonly IncomingEvent[]) => Promise<AppendResult>;
  readonly onRejected: (topic: string, reason: string) => void;
}

/**
 * The audit consumer: reads the security topics in its consumer group from the committed offsets (the
 * earliest for a new group), appends each batch in one transaction, and commits the offsets of a batch only
 * once its rows are durable. A batch that cannot be stored is retried (with backoff) and never skipped.
 */
export class ChainConsumer {
  private readonly consumer: Consumer<string, string, string, string>;
  private stream: Awaited<ReturnType<Consumer<string, string, string, string>['consume']>> | undefined;
  private readonly queue: Msg[] = [];
  private wakeWorker: (() => void) | undefined;
  private stopping = false;
  private worker: Promise<void> | undefined;
  private paused = false;
  /** Paused by an operator (the DR drill's audit catch-up step): nothing is chained until resumed. */
  private held = false;

  constructor(private readonly opts: ChainConsumerOptions) {
    this.consumer = new Consumer({
      clientId: 'audit-service',
      groupId: opts.group,
      bootstrapBrokers: [...opts.kafka.bootstrap],
      sasl: { mechanism: opts.kafka.mechanism, username: opts.kafka.username, password: opts.kafka.password },
      deserializers: stringDeserializers,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 20_000,
      connectTimeout: 3000,
      retries: 10,
      retryDelay: 500,
    });
    this.consumer.on?.('error', () => {});
  }

  async start(): Promise<void> {
    this.stream = await this.consumer.consume({
      topics: [...this.opts.topics],
      mode: 'committed',
      fallbackMode: 'earliest',
      autocommit: false,
      maxWaitTime: 500,
    });
    this.stream.on('data', (m: Msg) => {
      this.queue.push(m);
      if (this.queue.length >= this.opts.batchSize * 4 && !this.paused) {
        this.paused = true;
        this.stream?.pause();
      }
      this.wakeWorker?.();
    });
    this.stream.on('error', (err: unknown) => {
      this.opts.logger.warn(
        { event: 'audit_consumer_error', error: errorClass(err) },
        'audit consumer error; retrying',
      );
    });
    this.worker = this.run();
  }

  async lag(): Promise<Map<string, number>> {
    const lag = await this.consumer.getLag({ topics: [...this.opts.topics] });
    const out = new Map<string, number>();
    for (const [topic, parts] of lag)
      out.set(
        topic,
        parts.reduce((n, p) => n + (p > 0n ? Number(p) : 0), 0),
      );
    return out;
  }

  /** Stops chaining (records keep waiting in Kafka and the queue) until resume(). */
  hold(): void {
    this.held = true;
  }

  resume(): void {
    this.held = false;
    this.wakeWorker?.();
  }

  get isHeld(): boolean {
    return this.held;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      if (this.queue.length === 0 || this.held) {
        await new Promise<void>((resolve) => {
          this.wakeWorker = resolve;
          setTimeout(resolve, 200).unref();
        });
        this.wakeWorker = undefined;
        continue;
      }
      const batch = this.queue.slice(0, this.opts.batchSize);
      const events: IncomingEvent[] = [];
      for (const m of batch) {
        const parsed = parseEnvelope(m.topic, m.value ?? '');
        if ('rejected' in parsed) this.opts.onRejected(m.topic, parsed.rejected);
        else events.push(parsed);
      }
      try {
        await this.opts.append(events);
        failures = 0;
      } catch (err) {
        failures++;
        this.opts.logger.error(
          { event: 'audit_append_failed', error: errorClass(err), failures_in_a_row: failures },
          'audit batch not stored; retrying, offsets not committed',
        );
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** Math.min(failures, 5), 5000)));
        continue;
      }
      this.queue.splice(0, batch.length);
      // Durable: commit the last offset of each partition in the batch.
      const last = new Map<string, Msg>();
      for (const m of batch) last.set(`${m.topic}/${m.partition}`, m);
      await Promise.all([...last.values()].map((m) => Promise.resolve(m.commit()).catch(() => {})));
      if (this.paused && this.queue.length < this.opts.batchSize) {
        this.paused = false;
        this.stream?.resume();
      }
    }
  }

  async close(): Promise<void> {
    this.stopping = true;
    this.wakeWorker?.();
    await this.worker?.catch(() => {});
    await this.stream?.close().catch(() => {});
    await this.consumer.close(true).catch(() => {});
  }
}
