import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

/**
 * What the upstream is told (docs/integration-gateway.md, "Headers to the upstream"): the caller's own
 * headers minus credentials, hop-by-hop fields, forwarding fields and identity claims, plus the gateway's
 * verified identity, trace and forwarding chain. Pure functions, unit-tested.
 */

/** Hop-by-hop fields (RFC 9110 7.6.1), and `host`/`expect`, which the gateway's own client sets. */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
  'http2-settings',
];
/** The caller's credentials: consumed by the gateway, never passed on. */
const CREDENTIALS = ['authorization', 'cookie', 'x-api-key'];
/** Forwarding fields: rebuilt from the trusted hops only. */
const FORWARDING = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
];
/** Trace fields: replaced by the gateway's span. */
const TRACE = ['traceparent', 'tracestate', 'x-request-id'];
/** Identity fields the gateway sets from the verified credential (docs/contracts.md, "Gateway identity headers"). */
export const IDENTITY_HEADERS = {
  tenant: 'x-tenant-id',
  subject: 'x-novapos-subject',
  authMethod: 'x-novapos-auth-method',
  keyPrefix: 'x-novapos-key-prefix',
  scopes: 'x-novapos-scopes',
} as const;
/** Every `x-novapos-*` field a client sends is dropped, not only today's identity fields. */
const NOVAPOS_PREFIX = 'x-novapos-';

const DROPPED = new Set([...HOP_BY_HOP, ...CREDENTIALS, ...FORWARDING, ...TRACE, IDENTITY_HEADERS.tenant]);

/** The verified identity the upstream gets. */
export interface UpstreamIdentity {
  readonly tenant: string;
  readonly subject: string;
  readonly method: 'jwt' | 'api_key';
  readonly keyPrefix?: string;
  /** `*` for every scope (a role mapped to `*`), otherwise the scope names. */
  readonly scopes: readonly string[];
}

export interface ClientChain {
  /** The address the gateway believes is the client's. */
  readonly client: string;
  /** The client, then each trusted proxy, nearest last (what X-Forwarded-For becomes). */
  readonly hops: readonly string[];
}

/**
 * The client's address with `trustedHops` proxies in front of the gateway: the chain is the caller's
 * X-Forwarded-For entries then the socket's address; the last `trustedHops` entries are proxies that
 * appended what they saw, so the client is the entry before them. Entries further left were written by
 * whoever sent the request and are dropped. An entry that is not an IP address ends the trust there.
 */
export function clientChain(
  forwardedFor: string | string[] | undefined,
  remoteAddress: string | undefined,
  trustedHops: number,
): ClientChain {
  const socket = plainAddress(remoteAddress ?? '') || 'unknown';
  const chain = [socket];
  if (trustedHops > 0 && forwardedFor !== undefined) {
    const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
      .split(',')
      .map((s) => plainAddress(s.trim()));
    for (let i = entries.length - 1; i >= 0 && chain.length <= trustedHops; i--) {
      const e = entries[i];
      if (e === undefined || !isIP(e)) break;
      chain.unshift(e);
    }
  }
  // The socket's address when no forwarded entry was believed.
  return { client: chain[0] ?? socket, hops: chain };
}

/**
 * The scheme the client used: `http` (this listener is plain HTTP) unless a trusted proxy in front says
 * otherwise in the last `X-Forwarded-Proto` value (the one it appended). Untrusted callers cannot claim https.
 */
export function clientProto(
  forwardedProto: string | string[] | undefined,
  trustedHops: number,
): 'http' | 'https' {
  if (trustedHops <= 0 || forwardedProto === undefined) return 'http';
  const last = (Array.isArray(forwardedProto) ? forwardedProto.join(',') : forwardedProto)
    .split(',')
    .at(-1)
    ?.trim()
    .toLowerCase();
  return last === 'https' ? 'https' : 'http';
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; anything else unchanged. */
function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/** RFC 7239 node: IPv6 in quotes and brackets. */
function forwardedNode(address: string): string {
  return isIP(address) === 6 ? `"[${address}]"` : address;
}

export interface UpstreamHeaderInput {
  readonly headers: IncomingHttpHeaders;
  readonly identity: UpstreamIdentity;
  readonly chain: ClientChain;
  readonly requestId: string;
  readonly traceparent: string;
  /** Passed on only when the caller's trace was continued. */
  readonly continuedTrace: boolean;
  readonly proto: 'http' | 'https';
  /** Extra fields from the rate limiter etc. are response fields, not here. */
}

/** The request fields sent upstream. */
export function upstreamHeaders(input: UpstreamHeaderInput): Record<string, string | string[]> {
  const { headers, identity, chain } = input;
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED.has(name) || named.has(name) || name.startsWith(NOVAPOS_PREFIX))
      continue;
    out[name] = value;
  }
  if (input.continuedTrace && typeof headers.tracestate === 'string') out['tracestate'] = headers.tracestate;
  out['traceparent'] = input.traceparent;
  out['x-request-id'] = input.requestId;
  out[IDENTITY_HEADERS.tenant] = identity.tenant;
  out[IDENTITY_HEADERS.subject] = identity.subject;
  out[IDENTITY_HEADERS.authMethod] = identity.method;
  if (identity.keyPrefix) out[IDENTITY_HEADERS.keyPrefix] = identity.keyPrefix;
  out[IDENTITY_HEADERS.scopes] = identity.scopes.join(' ');
  out['x-forwarded-for'] = chain.hops.join(', ');
  out['x-forwarded-proto'] = input.proto;
  out['forwarded'] = chain.hops
    .map((hop, i) => `for=${forwardedNode(hop)}${i === 0 ? `;proto=${input.proto}` : ''}`)
    .join(', ');
  return out;
}

/** Response fields never passed back to the caller: hop-by-hop ones (and those the upstream names in Connection). */
const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const named = new Set(
    String(headers['connection'] ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !DROP_RESPONSE.has(name) && !named.has(name)) out[name] = value;
  }
  return out;
}
