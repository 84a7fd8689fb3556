import type { DisasterRecoveryDrill } from '../../../operator/src/api/v1alpha1/disasterrecoverydrill.js';
import type { SecretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import type { SigningKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import type { TenantRateLimit } from '../../../operator/src/api/v1alpha1/tenantratelimit.js';
import { relative, short, table } from '../format.js';
import type { Style } from '../style.js';
import { conditionsNotFine, readyOf } from './common.js';
import { approvalState } from './secret-promotion.js';
import { applyState } from './tenant-rate-limit.js';

export type NovaposObject = SigningKeyRotation | TenantRateLimit | SecretPromotion | DisasterRecoveryDrill;

const SHORT: Record<NovaposObject['kind'], string> = {
  SigningKeyRotation: 'skr',
  TenantRateLimit: 'trl',
  SecretPromotion: 'spromo',
  DisasterRecoveryDrill: 'drdrill',
};

/** One line of what matters about an object, for the overview. */
export function summary(obj: NovaposObject, now: Date): string {
  switch (obj.kind) {
    case 'SigningKeyRotation':
      return `active ${obj.status?.activeKid ?? '-'}, next rotation ${relative(obj.status?.nextRotationTime, now)}`;
    case 'TenantRateLimit':
      return `tenant ${obj.spec.tenant} ${obj.spec.requestsPerMinute}/min, ${applyState(obj)}`;
    case 'SecretPromotion':
      return `${obj.status?.phase ?? 'Pending'}, plan ${short(obj.status?.plan?.hash)}, ${approvalState(obj)}`;
    case 'DisasterRecoveryDrill':
      return `last ${obj.status?.lastResult ?? 'never run'}, next run ${relative(obj.status?.nextScheduleTime, now)}`;
  }
}

/** Every object on one screen: KIND/NAME, READY, what needs attention, a summary. */
export function renderOverview(
  objects: readonly NovaposObject[],
  allNamespaces: boolean,
  now: Date,
  s: Style,
): string {
  if (!objects.length) return 'No NovaPOS resources found.\n';
  const rows = objects.map((o) => {
    const ready = readyOf(o.status?.conditions);
    const bad = conditionsNotFine(o.status?.conditions).map((c) => c.type);
    return [
      ...(allNamespaces ? [o.metadata.namespace ?? ''] : []),
      `${SHORT[o.kind]}/${o.metadata.name}`,
      ready.startsWith('True') ? s.green(ready) : s.red(ready),
      bad.length ? s.red(bad.join(',')) : '-',
      summary(o, now),
    ];
  });
  return `${table([...(allNamespaces ? ['NAMESPACE'] : []), 'RESOURCE', 'READY', 'NOT FINE', 'SUMMARY'], rows)}\n`;
}
