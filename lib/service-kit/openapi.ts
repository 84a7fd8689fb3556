import type { TSchema } from '@sinclair/typebox';

/**
 * What the services' OpenAPI 3.1 documents build alike (services/auth-service/src/openapi.ts,
 * services/integration-gateway/src/openapi.ts): schema components from TypeBox, operation ids, and the
 * error answers grouped by status over the service's own `components.schemas.Error` envelope.
 */

/** TypeBox schemas as plain JSON Schema (TypeBox's symbol keys dropped), for `components.schemas`. */
export function schemaComponents(schemas: Readonly<Record<string, TSchema>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, JSON.parse(JSON.stringify(v))]));
}

/** `getApiTenantPing` for GET /api/tenant/ping: the method, then the path's words in camel case. */
export function operationId(method: string, path: string): string {
  const words = path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''));
  return `${method}${words}`;
}

/**
 * One response per error status, in status order: the status's codes, sorted, named in its description
 * and as the `code` enum over the `Error` schema. `extra(status)` adds fields to that response (headers).
 */
export function errorResponses<C extends string>(
  codes: Iterable<C>,
  statusOf: (code: C) => number,
  extra: (status: number) => Record<string, unknown> = () => ({}),
): Record<string, unknown> {
  const byStatus = new Map<number, C[]>();
  for (const code of codes) {
    const status = statusOf(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, list] of [...byStatus.entries()].sort((a, b) => a[0] - b[0])) {
    list.sort();
    responses[String(status)] = {
      description: `Error codes: ${list.join(', ')}.`,
      ...extra(status),
      content: {
        'application/json': {
          schema: {
            allOf: [{ $ref: '#/components/schemas/Error' }],
            properties: { error: { properties: { code: { enum: list } } } },
          },
        },
      },
    };
  }
  return responses;
}
