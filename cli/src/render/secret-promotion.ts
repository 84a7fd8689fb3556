import type {
  KeyChange,
  PromotionPlan,
  SecretPromotion,
} from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import { relative, short, shortTime, table } from '../format.js';
import type { Style } from '../style.js';
import { type EventView, heading, renderConditions, renderEvents, renderReady } from './common.js';

function colourAction(action: KeyChange['action'], s: Style): string {
  if (action === 'add') return s.green('+ add');
  if (action === 'change') return s.yellow('~ change');
  if (action === 'remove') return s.red('- remove');
  return s.dim('  unchanged');
}

/** The plan as a diff table per target: key, action, fingerprints (never values). */
export function renderPlan(plan: PromotionPlan | undefined, s: Style, now: Date): string {
  if (!plan) return `${s.bold('Plan:')} none yet (the operator has not planned this spec)`;
  const { add, change, remove, unchanged } = plan.summary;
  const out = [
    `${s.bold('Plan')} ${plan.hash}  made ${relative(plan.createdAt, now)}${plan.fingerprintKeyId ? `  fingerprint key ${plan.fingerprintKeyId}` : ''}`,
    `  ${s.green(`${add} to add`)}, ${s.yellow(`${change} to change`)}, ${s.red(`${remove} to remove`)}, ${unchanged} unchanged`,
  ];
  for (const e of plan.entries) {
    out.push(
      '',
      `  ${s.bold(`target ${e.target}`)}: ${e.sourcePath} v${e.sourceVersion} → ${e.targetPath} (target at v${e.targetVersion}${e.targetVersion === 0 ? ', absent' : ''})`,
      e.changes.length
        ? table(
            ['KEY', 'ACTION', 'SOURCE FINGERPRINT', 'TARGET FINGERPRINT'],
            e.changes.map((c) => [
              c.key,
              colourAction(c.action, s),
              short(c.sourceFingerprint, 16),
              short(c.targetFingerprint, 16),
            ]),
            '    ',
          )
        : '    (no keys)',
    );
  }
  return out.join('\n');
}

/** Where the approval stands with respect to the current plan. */
export function approvalState(sp: SecretPromotion): string {
  const st = sp.status ?? {};
  if (!sp.spec.requireApproval) return 'not required (spec.requireApproval: false)';
  if (!st.plan) return 'nothing to approve yet';
  if (st.approval?.planHash === st.plan.hash)
    return `approved by ${st.approval.approvedBy ?? 'unknown'}${st.approval.approvedAt ? ` at ${shortTime(st.approval.approvedAt)}` : ''}`;
  if (st.approval)
    return `waiting: the approval in force (${short(st.approval.planHash)} by ${st.approval.approvedBy ?? 'unknown'}) is for an older plan`;
  return 'waiting for approval of the current plan';
}

export function renderSecretPromotion(
  sp: SecretPromotion,
  events: readonly EventView[],
  now: Date,
  s: Style,
): string {
  const st = sp.status ?? {};
  const src = sp.spec.source;
  const out: string[] = [];
  out.push(
    `${heading('SecretPromotion', sp.metadata.namespace, sp.metadata.name, s)}  phase ${s.bold(st.phase ?? 'Pending')}  ${sp.spec.mode}${sp.spec.suspend ? s.yellow('  (suspended)') : ''}`,
  );
  out.push(renderReady(st.conditions, s));
  out.push(
    `${s.bold('Source:')} ${src.connection}:${src.mount}/${src.path ?? `${src.prefix}/*`}${src.version ? ` pinned v${src.version}` : ''}`,
  );
  out.push(
    `${s.bold('Targets:')} ${sp.spec.targets.map((t) => `${t.name} (${t.connection}:${t.mount}/${t.path})`).join(', ')}`,
  );
  out.push(`${s.bold('Approval:')} ${approvalState(sp)}`);
  out.push('', renderPlan(st.plan, s, now));
  if (st.conflicts?.length) {
    out.push(
      '',
      `${s.red(s.bold('Conflicts'))} (a target changed after the plan; nothing was overwritten: re-plan and re-approve):`,
      table(
        ['TARGET', 'PATH', 'PLANNED', 'FOUND', 'CHANGED KEYS'],
        st.conflicts.map((c) => [
          c.target,
          c.path,
          `v${c.plannedVersion}`,
          `v${c.currentVersion}`,
          (c.changedKeys ?? []).join(', ') || '-',
        ]),
        '  ',
      ),
    );
  }
  if (st.lastPromotion) {
    out.push(
      '',
      `${s.bold('Last promotion:')} plan ${short(st.lastPromotion.planHash)} at ${shortTime(st.lastPromotion.promotedAt)} approved by ${st.lastPromotion.approvedBy ?? '-'}; writes: ${st.lastPromotion.writes
        .map((w) => `${w.target} v${w.previousVersion}→v${w.version}`)
        .join(', ')}`,
    );
  }
  out.push(
    '',
    st.history?.length
      ? `${s.bold('History:')}\n${table(
          ['WHEN', 'ACTION', 'PLAN', 'RESULT', 'APPROVED BY', 'MESSAGE'],
          st.history.map((h) => [
            shortTime(h.at),
            h.action,
            short(h.planHash),
            h.result === 'Succeeded' ? s.green(h.result) : s.red(h.result),
            h.approvedBy ?? '-',
            h.message ?? '',
          ]),
          '  ',
        )}`
      : `${s.bold('History:')} nothing applied yet`,
  );
  out.push('', renderConditions(st.conditions, s, now), '', renderEvents(events, s, now));
  return `${out.join('\n')}\n`;
}
