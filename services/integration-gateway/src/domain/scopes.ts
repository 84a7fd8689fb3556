import { pathMatches } from './limits.js';

/**
 * Which scope a request needs, and whether a caller holds it (docs/integration-gateway.md, "Scopes").
 *
 * Routes declare scopes in `GATEWAY_ROUTE_SCOPES`: entries separated by commas or newlines, each
 * `[METHOD ]<path prefix>=<scope>` (`GET /api/exports=exports:read, /api/orders=orders`). The longest
 * matching prefix wins (whole path segments); at the same prefix a rule for the request's method beats one
 * for any method. A request no rule covers needs a scope no API key can hold: default deny. API keys carry
 * the scopes auth-service stored with them; JWTs get the scopes of their `roles` through
 * `GATEWAY_ROLE_SCOPES` (`admin=*, support=orders exports:read`), `*` meaning every route. The ping needs none.
 */

export interface RouteScope {
  /** Upper-case method, or undefined for any. */
  readonly method?: string;
  readonly pathPrefix: string;
  readonly scope: string;
}

/** As auth-service validates API key scopes. */
export const SCOPE_RE = /^[a-z0-9:._-]{1,64}$/;
/** Held by a role mapped to every route. */
export const ALL_SCOPES = '*';
const METHOD_RE = /^[A-Z]{3,10}$/;

export class ScopeConfigError extends Error {
  override readonly name = 'ScopeConfigError';
}

const entries = (text: string) =>
  text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);

export function parseRouteScopes(text: string): RouteScope[] {
  return entries(text).map((entry) => {
    const eq = entry.lastIndexOf('=');
    const left = entry.slice(0, eq).trim();
    const scope = entry.slice(eq + 1).trim();
    const parts = left.split(/\s+/);
    const [method, pathPrefix] = parts.length === 2 ? parts : [undefined, parts[0]];
    if (
      eq < 0 ||
      parts.length > 2 ||
      !pathPrefix?.startsWith('/api/') ||
      /\/\/|\/\.\.?(\/|$)|%|\\/.test(pathPrefix) ||
      (method !== undefined && !METHOD_RE.test(method)) ||
      !SCOPE_RE.test(scope)
    ) {
      throw new ScopeConfigError(
        `GATEWAY_ROUTE_SCOPES entry "${entry}" must be "[METHOD ]/api/<path>=<scope>" (scope ${SCOPE_RE.source})`,
      );
    }
    return method ? { method, pathPrefix, scope } : { pathPrefix, scope };
  });
}

export function parseRoleScopes(text: string): ReadonlyMap<string, readonly string[]> {
  const roles = new Map<string, string[]>();
  for (const entry of entries(text)) {
    const eq = entry.indexOf('=');
    const role = entry.slice(0, eq).trim();
    const scopes = entry
      .slice(eq + 1)
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    if (
      eq <= 0 ||
      !/^[A-Za-z0-9:._-]{1,64}$/.test(role) ||
      !scopes.every((s) => s === ALL_SCOPES || SCOPE_RE.test(s))
    )
      throw new ScopeConfigError(
        `GATEWAY_ROLE_SCOPES entry "${entry}" must be "<role>=<scope> <scope>..." or "<role>=*"`,
      );
    roles.set(role, [...(roles.get(role) ?? []), ...scopes]);
  }
  return roles;
}

/** The scope `method path` needs, or undefined when no rule covers it (then only `*` reaches it). */
export function requiredScope(
  rules: readonly RouteScope[],
  method: string,
  path: string,
): string | undefined {
  let best: RouteScope | undefined;
  for (const r of rules) {
    if (r.method !== undefined && r.method !== method) continue;
    if (!pathMatches(r.pathPrefix, path)) continue;
    if (
      !best ||
      r.pathPrefix.length > best.pathPrefix.length ||
      (r.pathPrefix.length === best.pathPrefix.length && r.method !== undefined)
    )
      best = r;
  }
  return best?.scope;
}

export function holdsScope(scopes: readonly string[], required: string | undefined): boolean {
  if (scopes.includes(ALL_SCOPES)) return true;
  return required !== undefined && scopes.includes(required);
}

/** The scopes of a token's roles: the union of what each role maps to (sorted, `*` alone when present). */
export function scopesOfRoles(
  roleScopes: ReadonlyMap<string, readonly string[]>,
  roles: readonly string[],
): string[] {
  const out = new Set<string>();
  for (const role of roles) for (const s of roleScopes.get(role) ?? []) out.add(s);
  return out.has(ALL_SCOPES) ? [ALL_SCOPES] : [...out].sort();
}
