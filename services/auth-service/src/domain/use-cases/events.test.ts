import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../model.js';
import type { UseCaseDeps } from './deps.js';
import { ifDone, withEvent } from './events.js';

const ctx: RequestContext = {
  tenantId: 'acme',
  ip: '198.51.100.7',
  requestId: 'r1',
  traceId: 't1',
  userAgent: undefined,
  acceptLanguage: undefined,
};

/** Records what ran inside the unit of work, in order: an honest stand-in for the store's. */
function aRecorder() {
  const log: string[] = [];
  let depth = 0;
  const deps = {
    config: { topics: { audit: 'audit.events.v1', mfaActivity: 'security.mfa.activity' }, mfa: {} },
    store: {
      unitOfWork: async <T>(fn: () => Promise<T>) => {
        depth++;
        try {
          return await fn();
        } finally {
          depth--;
        }
      },
    },
    events: {
      publish: async (topic: string, e: { type: string; user_id: string | null }) => {
        log.push(`${depth > 0 ? 'tx' : 'no-tx'} ${topic} ${e.type} ${e.user_id}`);
      },
    },
  } as unknown as UseCaseDeps;
  return { deps, log, inTx: () => depth > 0 };
}

describe('withEvent: a change and its events in one unit of work', () => {
  it('runs the change, then publishes the events derived from its result, all inside the unit of work', async () => {
    const { deps, log, inTx } = aRecorder();
    const result = await withEvent(
      deps,
      ctx,
      async () => {
        log.push(`${inTx() ? 'tx' : 'no-tx'} change`);
        return 3;
      },
      (n) => [
        { topic: 'audit', type: 'session_bulk_revocation', fields: { userId: 'u1', revoked: n } },
        { topic: 'mfa', type: 'mfa_challenge', fields: { userId: 'u1' } },
      ],
    );
    expect(result).toBe(3);
    expect(log).toEqual([
      'tx change',
      'tx audit.events.v1 session_bulk_revocation u1',
      'tx security.mfa.activity mfa_challenge u1',
    ]);
  });

  it('publishes nothing when the change did not happen', async () => {
    const { deps, log } = aRecorder();
    const ok = await withEvent(
      deps,
      ctx,
      async () => false,
      ifDone({ topic: 'audit', type: 'user_deleted' }),
    );
    expect(ok).toBe(false);
    expect(log).toEqual([]);
  });

  it('a failed event write fails the unit of work (the repository then rolls the change back)', async () => {
    const { deps } = aRecorder();
    (deps.events as { publish: unknown }).publish = async () => {
      throw new Error('outbox write failed');
    };
    await expect(
      withEvent(
        deps,
        ctx,
        async () => 1,
        () => ({ topic: 'audit', type: 'logout' }),
      ),
    ).rejects.toThrow('outbox write failed');
  });
});
