import { describe, expect, it } from 'vitest';
import { clientChain, clientProto, downstreamHeaders, upstreamHeaders } from './forwarding.js';

describe('clientChain: X-Forwarded-For by TRUST_PROXY_HOPS', () => {
  it.each([
    ['no trusted hop: the socket, whatever the caller wrote', '6.6.6.6', '127.0.0.1', 0, ['127.0.0.1']],
    [
      'one hop: the entry the proxy appended',
      '6.6.6.6, 203.0.113.7',
      '10.0.0.2',
      1,
      ['203.0.113.7', '10.0.0.2'],
    ],
    ['two hops', '6.6.6.6, 203.0.113.7, 10.0.0.9', '10.0.0.2', 2, ['203.0.113.7', '10.0.0.9', '10.0.0.2']],
    ['more hops trusted than present', '203.0.113.7', '10.0.0.2', 3, ['203.0.113.7', '10.0.0.2']],
    ['a non-address ends the trust', '203.0.113.7, evil', '10.0.0.2', 2, ['10.0.0.2']],
    ['no header', undefined, '10.0.0.2', 1, ['10.0.0.2']],
    ['IPv4-mapped socket address', undefined, '::ffff:127.0.0.1', 0, ['127.0.0.1']],
    ['repeated headers', ['6.6.6.6', '203.0.113.7'], '10.0.0.2', 1, ['203.0.113.7', '10.0.0.2']],
  ])('%s', (_name, xff, remote, hops, expected) => {
    const c = clientChain(xff, remote, hops);
    expect(c.hops).toEqual(expected);
    expect(c.client).toBe(expected[0]);
  });
});

describe('upstreamHeaders', () => {
  const base = {
    identity: {
      tenant: 't1',
      subject: 'u1',
      method: 'api_key' as const,
      keyPrefix: 'abc',
      scopes: ['a', 'b'],
    },
    chain: { client: '203.0.113.7', hops: ['203.0.113.7', '::1'] },
    requestId: 'req-12345678',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-1111111111111111-01',
    continuedTrace: true,
    proto: 'http' as const,
  };

  it('drops credentials, hop-by-hop, forwarding, identity and Connection-named fields; sets its own', () => {
    const h = upstreamHeaders({
      ...base,
      headers: {
        authorization: 'Bearer x',
        cookie: 'a=b',
        'x-api-key': 'npk_x',
        'proxy-authorization': 'Basic x',
        connection: 'keep-alive, X-Secret',
        'x-secret': '1',
        te: 'trailers',
        host: 'internal:1',
        expect: '100-continue',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-host': 'evil',
        forwarded: 'for=6.6.6.6',
        'x-tenant-id': 'forged',
        'x-novapos-anything': 'forged',
        traceparent: 'caller',
        tracestate: 'vendor=1',
        'content-type': 'application/json',
        'content-length': '2',
      },
    });
    expect(h).toEqual({
      'content-type': 'application/json',
      'content-length': '2',
      tracestate: 'vendor=1',
      traceparent: base.traceparent,
      'x-request-id': 'req-12345678',
      'x-tenant-id': 't1',
      'x-novapos-subject': 'u1',
      'x-novapos-auth-method': 'api_key',
      'x-novapos-key-prefix': 'abc',
      'x-novapos-scopes': 'a b',
      'x-forwarded-for': '203.0.113.7, ::1',
      'x-forwarded-proto': 'http',
      forwarded: 'for=203.0.113.7;proto=http, for="[::1]"',
    });
  });

  it('does not pass tracestate on for a trace it started', () => {
    const h = upstreamHeaders({ ...base, continuedTrace: false, headers: { tracestate: 'vendor=1' } });
    expect(h['tracestate']).toBeUndefined();
  });
});

describe('downstreamHeaders', () => {
  it('drops hop-by-hop fields and those the upstream names in Connection', () => {
    expect(
      downstreamHeaders({
        connection: 'close, x-internal',
        'x-internal': '1',
        'transfer-encoding': 'chunked',
        'content-type': 'text/plain',
        'set-cookie': ['a=1'],
      }),
    ).toEqual({ 'content-type': 'text/plain', 'set-cookie': ['a=1'] });
  });
});

describe('clientProto', () => {
  it('is http unless a trusted proxy appended https', () => {
    expect(clientProto('https', 0)).toBe('http');
    expect(clientProto(undefined, 1)).toBe('http');
    expect(clientProto('https', 1)).toBe('https');
    expect(clientProto('http, https', 1)).toBe('https');
    expect(clientProto('https, http', 1)).toBe('http');
  });
});
