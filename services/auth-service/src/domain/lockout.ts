/**
 * Sign-in lockout that an attacker cannot turn against the owner (Okta's per-device lockout and Keycloak's
 * brute-force detection, combined):
 * - failures are counted per (account, client address): `threshold` of them lock that pair only, for
 *   base, 2×base, 4×base, ... capped at `maxSeconds`;
 * - failures are also counted per account over every address: `accountThreshold` (far above `threshold`)
 *   locks the account for addresses it has not signed in from; an address it signed in from (known) is
 *   never locked by failures from elsewhere;
 * - a failure after `failureResetSeconds` of quiet starts the count again at 1 (decay);
 * - a successful sign-in clears its own pair's count and the account-wide one, and makes the address known.
 */
export interface LockoutPolicy {
  readonly threshold: number;
  readonly baseSeconds: number;
  readonly maxSeconds: number;
  readonly accountThreshold: number;
  readonly failureResetSeconds: number;
}

/**
 * How long a pair is locked after its `failures`-th failure: nothing below `threshold`, then base, 2×base,
 * 4×base, ... capped at max (exponential backoff).
 */
export function lockoutSeconds(
  failures: number,
  policy: Pick<LockoutPolicy, 'threshold' | 'baseSeconds' | 'maxSeconds'>,
): number {
  if (failures < policy.threshold) return 0;
  const doublings = Math.min(failures - policy.threshold, 30);
  return Math.min(policy.baseSeconds * 2 ** doublings, policy.maxSeconds);
}

/** The account-wide lock (for unknown addresses) after the account's `failures`-th failure. */
export function accountLockoutSeconds(failures: number, policy: LockoutPolicy): number {
  return lockoutSeconds(failures, { ...policy, threshold: policy.accountThreshold });
}

export interface LockoutState {
  readonly pairLockedUntil: Date | null;
  readonly accountLockedUntil: Date | null;
  /** The address signed in to this account before (within the known-source period). */
  readonly knownSource: boolean;
}

/** Seconds this address must wait before trying this account again; 0 when it may try now. */
export function lockedForSeconds(state: LockoutState, nowMs: number): number {
  const left = (d: Date | null) => (d ? Math.max(0, d.getTime() - nowMs) : 0);
  const ms = Math.max(left(state.pairLockedUntil), state.knownSource ? 0 : left(state.accountLockedUntil));
  return ms > 0 ? Math.ceil(ms / 1000) : 0;
}

export interface Lock {
  /** The client address for a pair lock; '' for the account-wide one. */
  readonly source: string;
  readonly scope: 'address' | 'account';
  /** The failure count that set it. */
  readonly failures: number;
  readonly seconds: number;
  readonly until: Date;
}

/** The locks a failure from `ip` sets, given the counts after it (pair, then account). */
export function locksAfterFailure(
  failures: { pair: number; account: number },
  ip: string,
  policy: LockoutPolicy,
  nowMs: number,
): Lock[] {
  const candidates = [
    {
      source: ip,
      scope: 'address' as const,
      failures: failures.pair,
      seconds: lockoutSeconds(failures.pair, policy),
    },
    {
      source: '',
      scope: 'account' as const,
      failures: failures.account,
      seconds: accountLockoutSeconds(failures.account, policy),
    },
  ];
  return candidates
    .filter((lock) => lock.seconds > 0)
    .map((lock) => ({ ...lock, until: new Date(nowMs + lock.seconds * 1000) }));
}
