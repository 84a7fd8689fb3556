import { Consumer, stringDeserializers } from '@platformatic/kafka';
import { type KafkaCredentials, type KafkaInstance, saslOptions } from '../harness/components/kafka.js';
import { waitUntil } from '../harness/wait.js';

export interface ReadMessage {
  readonly topic: string;
  readonly key: string;
  readonly value: Record<string, unknown>;
  readonly raw: string;
  readonly headers: Record<string, string>;
  readonly partition: number;
  readonly offset: bigint;
}

/** Reads `topics` from the beginning (a fresh group) until `until(messages)` holds; the super user by default. */
export async function readBack(
  kafka: KafkaInstance,
  topics: readonly string[],
  until: (messages: readonly ReadMessage[]) => boolean,
  opts: { timeoutMs?: number; creds?: KafkaCredentials } = {},
): Promise<ReadMessage[]> {
  const consumer = new Consumer({
    clientId: 'read-back',
    groupId: `read-back-${Math.random().toString(36).slice(2)}`,
    bootstrapBrokers: [kafka.bootstrap],
    sasl: saslOptions(opts.creds ?? kafka.admin),
    deserializers: stringDeserializers,
  });
  const messages: ReadMessage[] = [];
  try {
    const stream = await consumer.consume({
      topics: [...topics],
      mode: 'earliest',
      autocommit: false,
      maxWaitTime: 200,
    });
    stream.on('data', (m) => {
      messages.push({
        topic: m.topic,
        key: m.key,
        raw: m.value,
        value: JSON.parse(m.value) as Record<string, unknown>,
        headers: Object.fromEntries(m.headers),
        partition: m.partition,
        offset: m.offset,
      });
    });
    stream.on('error', () => {});
    await waitUntil(`messages on ${topics.join(', ')}`, () => until(messages), {
      timeoutMs: opts.timeoutMs ?? 30_000,
      intervalMs: 100,
    });
    await stream.close();
  } finally {
    await consumer.close(true).catch(() => {});
  }
  return messages;
}
