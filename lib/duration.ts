/**
 * Go-style durations (`90s`, `15m`, `720h`, `1h30m`): the one syntax the CRDs admit (their OpenAPI pattern
 * is `GO_DURATION_PATTERN`), the operator reads from specs and the plugin reads from its flags. This module
 * imports nothing, so the API types may use it (architecture.json).
 */

/**
 * What `time.ParseDuration` and CEL's `duration()` accept, without signs or the `µs` spelling. The CRD
 * schemas publish it as their pattern, so the apiserver and `parseDuration` agree on every value.
 */
export const GO_DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const durationShape = new RegExp(GO_DURATION_PATTERN);

/**
 * Milliseconds in a Go-style duration (`1h30m`, `90s`, `1.5h`); throws on anything else. Hand-written
 * because it must match the CRD pattern exactly: general-purpose parsers accept more (`1 hour`, `1d`) and
 * would disagree with the apiserver.
 */
export function parseDuration(value: string): number {
  if (!durationShape.test(value))
    throw new Error(`not a Go-style duration: "${value}" (use e.g. 90s, 15m, 720h)`);
  let total = 0;
  for (const m of value.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  }
  return total;
}

/** A compact duration for messages: 25h, 1h30m, 45s (under a second: 250ms). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h) parts.push(`${h}h`);
  if (m) parts.push(`${m}m`);
  if (s || !parts.length) parts.push(`${s}s`);
  return parts.join('');
}
