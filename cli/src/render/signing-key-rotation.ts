import type {
  SigningKey,
  SigningKeyRotation,
  SigningKeyState,
} from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import { keySignsAt } from '../decide/rotate.js';
import { humanDuration, relative, short, shortTime, table } from '../format.js';
import type { Style } from '../style.js';
import { type EventView, heading, renderConditions, renderEvents, renderReady } from './common.js';

const ms = (t: string | undefined) => (t ? Date.parse(t) : Number.NaN);

/** When the key leaves its current state, as the key table's RETIRES AT column shows it. */
function retiresAt(key: SigningKey, skr: SigningKeyRotation): string | undefined {
  if (key.state === 'active') return skr.status?.nextRotationTime;
  if (key.state === 'retired') return key.retiredAt;
  return undefined;
}

/** What happens next to the key and when: `signs in 1d 2h`, `retires in 29d`, `leaves JWKS in 20m`. */
export function timeLeft(key: SigningKey, skr: SigningKeyRotation, now: Date): string {
  const left = (t: string | undefined) => humanDuration(ms(t) - now.getTime());
  switch (key.state) {
    case 'next':
      return key.publishedAt ? `signs in ${left(keySignsAt(skr, key.publishedAt))}` : 'waiting';
    case 'active':
      return skr.status?.nextRotationTime ? `retires in ${left(skr.status.nextRotationTime)}` : '-';
    case 'retired':
      return key.removeAfter ? `leaves JWKS in ${left(key.removeAfter)}` : '-';
    case 'revoked':
      return 'removed from JWKS';
  }
}

const STATE_ORDER: Record<SigningKeyState, number> = { next: 0, active: 1, retired: 2, revoked: 3 };

export function sortedKeys(skr: SigningKeyRotation): SigningKey[] {
  return [...(skr.status?.keys ?? [])].sort(
    (a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || ms(b.createdAt) - ms(a.createdAt),
  );
}

function colourState(state: SigningKeyState, s: Style): string {
  if (state === 'active') return s.green(state);
  if (state === 'next') return s.cyan(state);
  if (state === 'revoked') return s.red(state);
  return s.dim(state);
}

/** The state a key is in (or will be, as far as status tells) at time t; undefined outside the JWKS. */
export function stateAt(key: SigningKey, skr: SigningKeyRotation, t: number): SigningKeyState | undefined {
  const published = ms(key.publishedAt ?? key.createdAt);
  if (Number.isNaN(published) || t < published) return undefined;
  if (key.revokedAt && t >= ms(key.revokedAt)) return undefined;
  const next = skr.status?.nextRotationTime;
  const activated = ms(
    key.activatedAt ??
      (key.state === 'next' ? (key.publishedAt ? keySignsAt(skr, key.publishedAt) : next) : undefined),
  );
  if (Number.isNaN(activated) || t < activated) return 'next';
  const retired = ms(key.retiredAt ?? (key.state === 'active' ? next : undefined));
  if (Number.isNaN(retired) || t < retired) return 'active';
  const removed = ms(key.removeAfter);
  if (Number.isNaN(removed) || t < removed) return 'retired';
  return undefined;
}

const GLYPHS = {
  fancy: { next: '░', active: '█', retired: '▒', revoked: '✕', now: '▲', empty: ' ' },
  ascii: { next: '-', active: '#', retired: '=', revoked: 'x', now: '^', empty: ' ' },
};

/**
 * The keys' states over time, one row per key: from the earliest publication to the latest time status
 * knows of (next rotation, removal of the last retired key). `^` marks now.
 */
export function renderTimeline(skr: SigningKeyRotation, now: Date, s: Style, width = 48): string {
  const keys = sortedKeys(skr);
  if (!keys.length) return '';
  const g = s.color ? GLYPHS.fancy : GLYPHS.ascii;
  const times = [
    now.getTime(),
    ...keys.flatMap((k) => [k.publishedAt, k.createdAt, k.removeAfter, k.revokedAt].map(ms)),
    ms(skr.status?.nextRotationTime),
  ].filter((t) => !Number.isNaN(t));
  const start = Math.min(...times);
  let end = Math.max(...times);
  if (end <= start) end = start + 1;
  const step = (end - start) / width;
  const col = (t: number) => Math.min(width - 1, Math.max(0, Math.floor((t - start) / step)));
  const paint = (state: SigningKeyState | undefined, ch: string) =>
    state === 'active'
      ? s.green(ch)
      : state === 'next'
        ? s.cyan(ch)
        : state === 'revoked'
          ? s.red(ch)
          : s.dim(ch);
  const kidWidth = Math.max(...keys.map((k) => k.kid.length));
  const rows = keys.map((k) => {
    const cells: string[] = [];
    for (let i = 0; i < width; i++) {
      const st = stateAt(k, skr, start + (i + 0.5) * step);
      cells.push(st ? paint(st, g[st]) : g.empty);
    }
    if (k.revokedAt) cells[col(ms(k.revokedAt))] = paint('revoked', g.revoked);
    return `  ${k.kid.padEnd(kidWidth)} |${cells.join('')}|`;
  });
  const axis = Array.from({ length: width }, (_, i) => (i === col(now.getTime()) ? g.now : ' ')).join('');
  const pad = ' '.repeat(kidWidth + 2);
  const legend = `${g.next} next  ${g.active} active  ${g.retired} retired  ${g.revoked} revoked  ${g.now} now`;
  return [
    `${s.bold('Timeline')} ${shortTime(new Date(start).toISOString())} → ${shortTime(new Date(end).toISOString())}`,
    ...rows,
    `${pad}  ${axis}`,
    `  ${s.dim(legend)}`,
  ].join('\n');
}

export function renderSigningKeyRotation(
  skr: SigningKeyRotation,
  events: readonly EventView[],
  now: Date,
  s: Style,
): string {
  const st = skr.status ?? {};
  const keys = sortedKeys(skr);
  const out: string[] = [];
  out.push(
    `${heading('SigningKeyRotation', skr.metadata.namespace, skr.metadata.name, s)}  ${skr.spec.algorithm}  issuer ${skr.spec.issuer}${skr.spec.suspend ? s.yellow('  (suspended)') : ''}`,
  );
  out.push(renderReady(st.conditions, s));
  out.push(
    `${s.bold('Active kid:')} ${st.activeKid ?? '-'}   ${s.bold('Next kid:')} ${st.nextKid ?? '-'}   ${s.bold('Key set:')} ${short(st.keysetHash, 16)}`,
  );
  const nextPublishedAt = keys.find((k) => k.state === 'next' && k.publishedAt)?.publishedAt;
  const nextSigns = nextPublishedAt ? keySignsAt(skr, nextPublishedAt) : st.nextRotationTime;
  out.push(
    `${s.bold('Next rotation:')} ${shortTime(nextSigns)} (${relative(nextSigns, now)})   ${s.bold('Last rotation:')} ${shortTime(st.lastRotationTime)}${st.lastRotationReason ? ` (${st.lastRotationReason})` : ''}   lead time ${skr.spec.leadTime}`,
  );
  out.push('');
  out.push(
    keys.length
      ? `${s.bold('Keys:')}\n${table(
          ['KID', 'STATE', 'PUBLISHED', 'ACTIVATED', 'RETIRES AT', 'TIME LEFT'],
          keys.map((k) => [
            k.kid,
            colourState(k.state, s),
            shortTime(k.publishedAt),
            shortTime(k.activatedAt),
            shortTime(retiresAt(k, skr)),
            timeLeft(k, skr, now),
          ]),
          '  ',
        )}`
      : `${s.bold('Keys:')} none yet`,
  );
  out.push('');
  const services = st.services ?? [];
  out.push(
    services.length
      ? `${s.bold('Services')} (loaded the current set ${short(st.keysetHash, 16)}?):\n${table(
          ['SERVICE', 'LOADED', 'LOADED AT', 'CHECKED', 'MESSAGE'],
          services.map((v) => [
            v.name,
            v.loaded ? s.green('yes') : s.red('no'),
            shortTime(v.loadedAt),
            relative(v.lastCheckedAt, now),
            v.message ?? '',
          ]),
          '  ',
        )}`
      : `${s.bold('Services:')} none listed in spec.services`,
  );
  const timeline = renderTimeline(skr, now, s);
  if (timeline) out.push('', timeline);
  out.push('', renderConditions(st.conditions, s, now), '', renderEvents(events, s, now));
  return `${out.join('\n')}\n`;
}
