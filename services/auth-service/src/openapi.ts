import { errorResponses, operationId, schemaComponents } from '../../../lib/service-kit/openapi.js';
import { ERRORS, type ErrorCode } from './domain/errors.js';
import { COMMON_ERRORS, OPERATIONS, type Operation, Schemas } from './routes/api.js';
import { VERSION } from './routes/health.js';

/**
 * The OpenAPI 3.1 document of auth-service, generated from routes/api.ts (TypeBox schemas are JSON Schema,
 * which OpenAPI 3.1 uses as is). Served at `GET /openapi.json`; committed as
 * `services/auth-service/openapi.json` (`npx tsx services/auth-service/src/openapi.ts` writes it; a unit
 * test fails on drift). Each operation lists every error code it can answer, grouped by status.
 */
export function openApiDocument(): Record<string, unknown> {
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    paths[op.path] = { ...paths[op.path], [op.method]: operation(op, ref) };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'NovaPOS auth-service',
      version: VERSION,
      description:
        'Login (argon2id), TOTP MFA, sessions, API keys, JWKS. Every error answer is `{ error: { code, message, requestId, details? } }`; codes are stable. /metrics is on the admin port (9085), not here.',
    },
    servers: [{ url: 'http://127.0.0.1:8085' }],
    components: {
      schemas: schemaComponents(Schemas),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        bootstrapToken: { type: 'apiKey', in: 'header', name: 'X-Bootstrap-Token' },
      },
      parameters: {
        tenant: {
          name: 'X-Tenant-ID',
          in: 'header',
          required: true,
          schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
        },
        requestId: {
          name: 'X-Request-ID',
          in: 'header',
          required: false,
          schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
        },
      },
    },
    paths,
  };
}

function operation(op: Operation, ref: (name: string) => unknown): Record<string, unknown> {
  const codes = new Set<ErrorCode>([
    ...(op.tenant ? COMMON_ERRORS : ['internal_error' as const]),
    ...op.errors,
  ]);
  const responses: Record<string, unknown> = {
    [String(op.success.status)]: {
      description: 'Success.',
      ...(op.success.schema ? { content: { 'application/json': { schema: ref(op.success.schema) } } } : {}),
    },
    ...errorResponses(codes, (c) => ERRORS[c][0]),
  };
  const params: unknown[] = [{ $ref: '#/components/parameters/requestId' }];
  if (op.tenant) params.unshift({ $ref: '#/components/parameters/tenant' });
  const id = /\{id\}/.test(op.path);
  if (id) params.push({ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } });
  const security =
    op.auth === 'none' ? [] : op.auth === 'bootstrap_token' ? [{ bootstrapToken: [] }] : [{ bearer: [] }];
  return {
    operationId: operationId(op.method, op.path),
    summary: op.summary,
    'x-auth': op.auth,
    parameters: params,
    security,
    ...(op.request
      ? { requestBody: { required: true, content: { 'application/json': { schema: ref(op.request) } } } }
      : {}),
    responses,
  };
}

export const OPENAPI_FILE = new URL('../openapi.json', import.meta.url);

// `npx tsx services/auth-service/src/openapi.ts`: regenerate the committed document.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(OPENAPI_FILE, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
  process.stdout.write('wrote services/auth-service/openapi.json (then: npx biome format --write it)\n');
}
