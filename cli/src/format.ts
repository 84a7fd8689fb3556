import { visibleLength } from './style.js';

/** `3d 4h`, `12m 5s`, `45s`: the two largest units of a duration. Negative durations are `0s`. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ];
  const parts: string[] = [];
  let rest = ms;
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0 || (parts.length > 0 && parts.length < 2)) {
      if (n > 0) parts.push(`${n}${name}`);
      rest -= n * size;
    }
    if (parts.length === 2) break;
  }
  return parts.length ? parts.join(' ') : '0s';
}

/** `in 3d 4h` or `5m ago` relative to now. */
export function relative(when: string | undefined, now: Date): string {
  if (!when) return '-';
  const t = Date.parse(when);
  if (Number.isNaN(t)) return when;
  const d = t - now.getTime();
  return d >= 0 ? `in ${humanDuration(d)}` : `${humanDuration(-d)} ago`;
}

/** An RFC 3339 time as `2026-12-03 10:05Z` (minutes are enough on a status screen). */
export function shortTime(when: string | undefined): string {
  if (!when) return '-';
  const t = new Date(when);
  if (Number.isNaN(t.getTime())) return when;
  return `${t.toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

/** A table with a header row; columns padded to their widest cell (ANSI-aware). */
export function table(header: readonly string[], rows: readonly (readonly string[])[], indent = ''): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    indent +
    cells
      .map((c, i) =>
        i === cells.length - 1 ? c : c + ' '.repeat(Math.max(0, (widths[i] ?? 0) - visibleLength(c))),
      )
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A long hash or fingerprint cut for a table: the first `n` characters and an ellipsis. */
export function short(s: string | undefined, n = 12): string {
  if (!s) return '-';
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
