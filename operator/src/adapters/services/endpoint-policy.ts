import { isIP } from 'node:net';
import type { KeyStatusEndpoints } from '../../connections-file.js';

/**
 * Which URLs a SigningKeyRotation may make the operator call. A resource is written by a namespace user,
 * and the operator runs with its own network reach: without this check any namespace could make it GET or
 * POST any address (SSRF) and read the outcome back from status. Allowed are only
 * - an in-cluster Service name, `<service>.<namespace>.svc[.cluster.local]`, of the resource's own
 *   namespace or one listed in `keyStatusEndpoints.serviceNamespaces`, and
 * - an origin listed exactly in `keyStatusEndpoints.allowedOrigins` (local development on loopback), or
 *   `scheme://host:*` there for any port of that host;
 * and only the key endpoints' paths (`/keys/status` to GET, `/keys/reload` to POST), no credentials in the
 * URL. Raw IP addresses and loopback names are refused unless their origin is listed.
 */

export type EndpointDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly message: string };

const SERVICE_HOST =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?\.?$/;

export function checkServiceUrl(
  url: string,
  purpose: 'status' | 'reload',
  resourceNamespace: string,
  allowed: KeyStatusEndpoints,
): EndpointDecision {
  const refuse = (why: string): EndpointDecision => ({
    allowed: false,
    message: `${purpose === 'status' ? 'statusURL' : 'reloadURL'} is not allowed: ${why}; the operator did not call it`,
  });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return refuse('not a URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return refuse('only http and https');
  if (u.username || u.password) return refuse('credentials in the URL');
  const path = purpose === 'status' ? '/keys/status' : '/keys/reload';
  if (!u.pathname.endsWith(path) || u.search || u.hash)
    return refuse(`the path must end in ${path}, without a query`);
  const anyPort = `${u.protocol}//${u.hostname}:*`;
  if (allowed.allowedOrigins.includes(u.origin) || allowed.allowedOrigins.includes(anyPort))
    return { allowed: true };
  const host = u.hostname.toLowerCase();
  const namespaces = [resourceNamespace, ...allowed.serviceNamespaces];
  const m = SERVICE_HOST.exec(host);
  if (m && !isIP(host) && namespaces.includes(m[2] as string)) return { allowed: true };
  return refuse(
    `only Services of namespace ${[...new Set(namespaces)].join(', ')} (<service>.<namespace>.svc) or an origin in keyStatusEndpoints.allowedOrigins of the operator's connections file`,
  );
}
