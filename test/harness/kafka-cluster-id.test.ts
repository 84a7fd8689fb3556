import { describe, expect, it } from 'vitest';
import { clusterId } from './components/kafka.js';

describe('the Kafka harness cluster id', () => {
  it('is 22 URL-safe base64 characters and never starts with "-" (the storage tool would read an option)', () => {
    // About one id in 64 would start with '-' if drawn once: 5,000 draws make that near certain.
    const ids = Array.from({ length: 5000 }, () => clusterId());
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
