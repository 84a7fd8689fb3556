import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { errorResponses, operationId, schemaComponents } from './openapi.js';

describe('OpenAPI pieces', () => {
  it('names an operation by its method and its path in camel case', () => {
    expect(operationId('get', '/api/tenant/ping')).toBe('getApiTenantPing');
    expect(operationId('post', '/webhooks/{partner}/{tenant}')).toBe('postWebhooksPartnerTenant');
    expect(operationId('get', '/.well-known/jwks.json')).toBe('getWellKnownJwksJson');
  });

  it('groups error codes by status, in status order, each list sorted, with extra fields per status', () => {
    const status = { b_conflict: 409, a_conflict: 409, bad: 400 } as const;
    const responses = errorResponses(
      ['b_conflict', 'bad', 'a_conflict'] as (keyof typeof status)[],
      (c) => status[c],
      (s) => (s === 409 ? { headers: { 'Retry-After': {} } } : {}),
    );
    expect(Object.keys(responses)).toEqual(['400', '409']);
    expect(responses['409']).toEqual({
      description: 'Error codes: a_conflict, b_conflict.',
      headers: { 'Retry-After': {} },
      content: {
        'application/json': {
          schema: {
            allOf: [{ $ref: '#/components/schemas/Error' }],
            properties: { error: { properties: { code: { enum: ['a_conflict', 'b_conflict'] } } } },
          },
        },
      },
    });
  });

  it('writes TypeBox schemas as plain JSON Schema (no symbol keys)', () => {
    const components = schemaComponents({ Live: Type.Object({ status: Type.Literal('ok') }) });
    expect(Object.getOwnPropertySymbols(components.Live)).toEqual([]);
    expect(components.Live).toMatchObject({ type: 'object', properties: { status: { const: 'ok' } } });
  });
});
