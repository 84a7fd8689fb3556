import { randomBytes } from 'node:crypto';

/** A fresh value for a trigger annotation (each acts once per distinct value): when, and who can tell. */
export function triggerValue(now: Date, random = randomBytes(3).toString('hex')): string {
  return `kubectl-novapos-${now.toISOString().replace(/\.\d+Z$/, 'Z')}-${random}`;
}

/** What `--wait` shows and whether it may stop. */
export interface Progress {
  readonly done: boolean;
  readonly line: string;
  /** Set when the state reached is a failure (a failed drill run, a failed rollback). */
  readonly failed?: boolean;
}
