import type { KeysetDocument } from '../../../../lib/keyset.js';
import { formatTime, type SigningKey, type SigningKeyRotationSpec } from '../../api/index.js';
import { type ModelKey, ms, type ServicesView } from './model.js';

export interface KeyStatusInput {
  readonly spec: SigningKeyRotationSpec;
  readonly model: readonly ModelKey[];
  readonly now: Date;
  /** maxTokenTTL + jwksCacheTTL + clock skew. */
  readonly retireWindowMs: number;
  readonly revokeKid?: string;
  readonly services: Pick<ServicesView, 'allLoaded'>;
  /** The key-set document as observed (undefined: none, or unreadable). */
  readonly doc?: KeysetDocument;
}

export interface KeyStatus {
  /** status.keys, sorted by kid. */
  readonly entries: SigningKey[];
  /** When a revoked key's record expires or a retired key becomes removable. */
  readonly wakeAt: readonly number[];
  /** The key revoke-kid names is unpublished and destroyed: the annotation is handled. */
  readonly revocationDone: boolean;
}

/**
 * status.keys for the observed state: a revoked key is kept as a record for one retire window; a key gone
 * from every record is dropped; a retired key gets its removeAfter once no service signs with it any more
 * (at once from retiredAt when no services are listed, else when all have loaded a set where it is not
 * active).
 */
export function keyStatus(input: KeyStatusInput): KeyStatus {
  const { spec, model, now, revokeKid, services, doc } = input;
  const nowMs = now.getTime();
  const window = input.retireWindowMs;
  const entries: SigningKey[] = [];
  const wakeAt: number[] = [];
  for (const k of model) {
    if (k.phase === 'orphan') continue;
    const e = { ...k.entry };
    if (k.kid === revokeKid && !k.published) {
      e.state = 'revoked';
      e.revokedAt ??= formatTime(now);
      delete e.removeAfter;
    }
    if (e.state === 'revoked') {
      const until = (ms(e.revokedAt) ?? nowMs) + window;
      if (nowMs >= until && !k.stored && !k.published) continue;
      if (nowMs < until) wakeAt.push(until);
      entries.push(e);
      continue;
    }
    if (k.phase === 'gone' && !k.stored) continue;
    if (k.phase === 'retired' && !e.removeAfter) {
      const listed = spec.services?.length ?? 0;
      let removeAfter: number | undefined;
      if (listed === 0) removeAfter = (ms(e.retiredAt) ?? nowMs) + window;
      else if (services.allLoaded && doc) removeAfter = nowMs + window;
      if (removeAfter !== undefined) {
        e.removeAfter = formatTime(new Date(removeAfter));
        // Already past (an operator that restarted after the window): wake at once; a wake time in the past
        // would be ignored and the removal would wait for the longest requeue.
        wakeAt.push(Math.max(Date.parse(e.removeAfter), nowMs + 1));
      }
    }
    entries.push(e);
  }
  entries.sort((a, b) => (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));
  const revoked = revokeKid ? model.find((k) => k.kid === revokeKid) : undefined;
  return { entries, wakeAt, revocationDone: !!revokeKid && !revoked?.published && !revoked?.stored };
}
