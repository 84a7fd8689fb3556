import { table } from '../format.js';
import type { Style } from '../style.js';

export type CheckState = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly name: string;
  readonly state: CheckState;
  readonly detail: string;
}

/** JSON with sorted keys: two schemas are equal when their canonical texts are. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

export interface LeaseView {
  readonly spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
}

/** The operator leads when a holder renewed the lease within its duration. */
export function leaderCheck(lease: LeaseView | undefined, where: string, now: Date): CheckResult {
  const name = 'operator is leading';
  if (!lease)
    return { name, state: 'fail', detail: `no lease ${where}: is the operator installed and running?` };
  const { holderIdentity, renewTime, leaseDurationSeconds = 15 } = lease.spec ?? {};
  if (!holderIdentity)
    return { name, state: 'fail', detail: `lease ${where} has no holder: no replica leads` };
  const age = now.getTime() - Date.parse(renewTime ?? '');
  if (!(age <= leaseDurationSeconds * 1000))
    return {
      name,
      state: 'fail',
      detail: `${holderIdentity} last renewed ${where} ${Math.round(age / 1000)}s ago (lease ${leaseDurationSeconds}s): the operator is down or cut off`,
    };
  return { name, state: 'ok', detail: `${holderIdentity} renewed ${where} ${Math.round(age / 1000)}s ago` };
}

/** What each plugin verb needs from RBAC, as SelfSubjectAccessReview attributes. */
export const VERB_NEEDS: readonly {
  verb: string;
  resource: string;
  access: string;
  read: boolean;
  /** API group; default security.novapos.io. */
  group?: string;
  subresource?: string;
}[] = [
  { verb: 'status', resource: 'signingkeyrotations', access: 'get', read: true },
  { verb: 'status', resource: 'secretpromotions', access: 'get', read: true },
  { verb: 'status', resource: 'tenantratelimits', access: 'get', read: true },
  { verb: 'status', resource: 'disasterrecoverydrills', access: 'get', read: true },
  { verb: 'status -A / list', resource: 'signingkeyrotations', access: 'list', read: true },
  { verb: 'rotate, revoke', resource: 'signingkeyrotations', access: 'patch', read: false },
  { verb: 'approve, rollback', resource: 'secretpromotions', access: 'patch', read: false },
  { verb: 'drill run', resource: 'disasterrecoverydrills', access: 'patch', read: false },
  // revoke --wait and live usage without Prometheus read the services' replicas through the apiserver.
  {
    verb: 'revoke --wait, live usage',
    resource: 'endpointslices',
    group: 'discovery.k8s.io',
    access: 'list',
    read: false,
  },
  {
    verb: 'revoke --wait, live usage',
    resource: 'pods',
    subresource: 'proxy',
    group: '',
    access: 'get',
    read: false,
  },
];

/** A denied read fails the check; a denied write only warns: not everyone should approve. */
export function rbacCheck(need: (typeof VERB_NEEDS)[number], allowed: boolean, ns: string): CheckResult {
  return {
    name: `RBAC: ${need.verb} (${need.access} ${need.resource}${need.subresource ? `/${need.subresource}` : ''} in ${ns})`,
    state: allowed ? 'ok' : need.read ? 'fail' : 'warn',
    detail: allowed ? 'allowed' : 'denied for you',
  };
}

export function renderChecks(results: readonly CheckResult[], s: Style): string {
  const mark = (st: CheckState) =>
    st === 'ok' ? s.green('ok') : st === 'warn' ? s.yellow('warn') : s.red('FAIL');
  const failed = results.filter((r) => r.state === 'fail').length;
  return `${table(
    ['CHECK', 'RESULT', 'DETAIL'],
    results.map((r) => [r.name, mark(r.state), r.detail]),
  )}\n${failed ? s.red(`${failed} check(s) failed`) : s.green('all checks passed')}\n`;
}
