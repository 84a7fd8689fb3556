export interface LockoutPolicy {
  /** Consecutive failures before the first lock. */
  readonly threshold: number;
  readonly baseSeconds: number;
  readonly maxSeconds: number;
}

/**
 * How long an account is locked after its `failures`-th consecutive failure: nothing below the
 * threshold, then base, 2×base, 4×base, ... capped at max (exponential backoff).
 */
export function lockoutSeconds(failures: number, policy: LockoutPolicy): number {
  if (failures < policy.threshold) return 0;
  const doublings = Math.min(failures - policy.threshold, 30);
  return Math.min(policy.baseSeconds * 2 ** doublings, policy.maxSeconds);
}
