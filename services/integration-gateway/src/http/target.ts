/**
 * The request target, read once (docs/integration-gateway.md, "Request targets and paths"). Only
 * origin-form (`/path?query`, RFC 9112 3.2.1) is accepted; the path is normalised once and that one path
 * is what is authorised, charged to route limits and forwarded:
 *
 * 1. percent-encodings must be `%` + two hex digits; unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
 *    decoded, every other encoding is kept with upper-case hex;
 * 2. an encoded `/` (`%2F`), `\` (`%5C`), NUL (`%00`) or `%` (`%25`, double encoding) is refused, as is a
 *    raw `\` or any character outside RFC 3986's pchar: each means one thing here and another upstream;
 * 3. repeated slashes collapse; `.` segments go; `..` removes the segment before it, and a `..` above the
 *    root is refused.
 */

export type TargetRefusal =
  /** Not origin-form: absolute-form, authority-form (CONNECT), asterisk-form, or a fragment. */
  | 'invalid_request_target'
  /** A path the gateway will not interpret: bad or ambiguous encodings, a `..` above the root. */
  | 'invalid_path';

export interface OriginTarget {
  /** The normalised path. */
  readonly path: string;
  /** `?` and the query as sent (empty when none). The query is not interpreted by the gateway. */
  readonly query: string;
  /** Whether the path, after decoding unreserved characters but before dot segments, began with `/api/`. */
  readonly claimsApi: boolean;
}

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** RFC 3986 pchar without `%` (handled apart) plus `/`. */
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;
/** RFC 3986 query characters plus `%`; the gateway forwards the query byte for byte. */
const QUERY_RE = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;
/** Encodings refused outright: `/`, `\`, NUL and `%` itself. */
const REFUSED_ENCODINGS = new Set(['2F', '5C', '00', '25']);

/**
 * A path that is already normal: segments of pchar without `%`, none of them `.` or `..`, no empty segment
 * (one trailing `/` allowed). Steps 1-3 would return it unchanged, so it is returned as it is: one regular
 * expression instead of a pass per character (most requests; the unit test compares both ways).
 */
const NORMAL_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,;=:@]+)*\/?$/;

export function parseTarget(raw: string): OriginTarget | TargetRefusal {
  if (raw.charCodeAt(0) !== 0x2f /* / */ || raw.includes('#')) return 'invalid_request_target';
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q);
  if (query !== '' && !QUERY_RE.test(query)) return 'invalid_path';
  if (NORMAL_PATH.test(rawPath)) return { path: rawPath, query, claimsApi: rawPath.startsWith('/api/') };
  return normalise(rawPath, query);
}

/** Steps 1-3 for a path that is not already normal (exported for the unit test). */
export function normalise(rawPath: string, query: string): OriginTarget | TargetRefusal {
  const decoded = decodeUnreserved(rawPath);
  if (decoded === undefined) return 'invalid_path';
  const path = removeDotSegments(decoded);
  if (path === undefined) return 'invalid_path';
  return { path, query, claimsApi: decoded.startsWith('/api/') };
}

/** Step 1 and 2: undefined when the path must be refused. */
function decodeUnreserved(path: string): string | undefined {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charAt(i);
    if (c === '%') {
      const hex = path.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return undefined;
      const upper = hex.toUpperCase();
      if (REFUSED_ENCODINGS.has(upper)) return undefined;
      const ch = String.fromCharCode(Number.parseInt(hex, 16));
      out += UNRESERVED.test(ch) ? ch : `%${upper}`;
      i += 2;
    } else if (PATH_CHAR.test(c)) out += c;
    else return undefined;
  }
  return out;
}

/** Step 3: collapses `//`, removes `.` and `..`; undefined for a `..` above the root. */
function removeDotSegments(path: string): string | undefined {
  const input = path.split('/');
  const out: string[] = [];
  let trailingSlash = false;
  for (const [i, seg] of input.entries()) {
    if (i === 0) continue; // before the leading '/'
    const last = i === input.length - 1;
    if (seg === '' || seg === '.') {
      if (last) trailingSlash = out.length > 0;
      continue;
    }
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
      if (last) trailingSlash = out.length > 0;
      continue;
    }
    out.push(seg);
    trailingSlash = false;
  }
  return `/${out.join('/')}${trailingSlash ? '/' : ''}`;
}
