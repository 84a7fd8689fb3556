import { type TSchema, Type } from '@sinclair/typebox';
import { errorResponses, operationId, schemaComponents } from '../../../lib/service-kit/openapi.js';

/**
 * The integration-gateway's public HTTP API (port 8083), described once: its routes, the answers' schemas
 * (TypeBox, which is JSON Schema as OpenAPI 3.1 uses it) and every error code with its status. Generated
 * into `services/integration-gateway/openapi.json` (`npm run generate`, or `npx tsx
 * services/integration-gateway/src/openapi.ts`); `openapi.test.ts` fails when the committed file differs,
 * and when an error code the gateway's code answers (`sendError`, `rawErrorResponse`, the webhook
 * refusals) is missing here or has another status. `/metrics` and `POST /keys/reload` are on the admin
 * port (9083), not part of this document.
 */

/** Every error code of the public port: status and what it means. Codes are stable (docs/contracts.md). */
export const GATEWAY_ERRORS = {
  // Any request: the request target and the HTTP framing (answered before any route).
  invalid_request_target: [400, 'Only origin-form request targets (/path?query) are accepted.'],
  invalid_path: [400, 'The path or query is malformed or ambiguous (bad escapes, encoded slashes, NUL, ..).'],
  path_outside_api: [400, 'A path that began with /api/ leaves it once normalised.'],
  malformed_request: [
    400,
    'The request is not valid HTTP/1.1 (e.g. Content-Length with chunked, Transfer-Encoding not ending in chunked, no Host or two Host fields, a body with Upgrade).',
  ],
  request_timeout: [408, 'The request took too long to arrive.'],
  headers_too_large: [431, 'The request header fields are too large.'],
  method_not_allowed: [
    405,
    'TRACE, TRACK and CONNECT are not served; /api/ takes GET, HEAD, POST, PUT, PATCH and DELETE only; webhooks are POSTed.',
  ],
  not_found: [404, 'No such route (or no upstream configured for /api/).'],
  internal_error: [500, 'Unexpected failure (logged by class and code only).'],
  // /api/: authentication, scope, limits, upstream.
  unauthorized: [
    401,
    'No credential, or one that is not valid (signature, expiry, revoked session, unknown key).',
  ],
  tenant_mismatch: [403, 'X-Tenant-ID does not match the credential.'],
  auth_unavailable: [
    503,
    'The key set or the key store cannot be read now; or the failure budget cannot be checked and the tenant fails closed.',
  ],
  too_many_auth_failures: [
    429,
    'This address (or API-key prefix) spent its failed-authentication budget; see Retry-After.',
  ],
  insufficient_scope: [403, 'The credential does not hold the scope the route needs.'],
  rate_limited: [429, "The tenant's rate limit is exceeded; see Retry-After and RateLimit."],
  rate_limiter_unavailable: [503, 'The rate limiter is unavailable and the tenant fails closed.'],
  upstream_timeout: [504, 'The upstream did not answer in time (GATEWAY_UPSTREAM_TIMEOUT_MS).'],
  upstream_unavailable: [502, 'The upstream did not answer.'],
  // /webhooks/: partner webhooks (signed bodies).
  payload_too_large: [413, 'The webhook body is larger than the configured limit.'],
  webhook_signature_invalid: [401, 'The signature header is missing or does not match the body.'],
  webhook_malformed: [400, 'The body is not a JSON object with event.id, event.type and event.created_at.'],
  webhook_stale: [400, 'event.created_at is outside the accepted tolerance.'],
  webhook_replayed: [409, 'This event was already received.'],
  webhook_unavailable: [503, 'The webhook secret or the replay store cannot be read now; see Retry-After.'],
  upstream_error: [502, 'The upstream did not take the webhook; retry later.'],
} as const satisfies Record<string, readonly [number, string]>;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

const KeysStatus = Type.Object({
  keysetHash: Type.Union([Type.String(), Type.Null()]),
  kids: Type.Array(Type.String()),
  activeKid: Type.Null({ description: 'The gateway verifies only; it has no active signing key.' }),
  loadedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const GatewaySchemas = {
  Error: Type.Object({
    error: Type.Object({
      code: Type.Union((Object.keys(GATEWAY_ERRORS) as GatewayErrorCode[]).map((c) => Type.Literal(c))),
      message: Type.String({ description: 'One human line; never quotes input.' }),
    }),
  }),
  Ping: Type.Object({
    status: Type.Literal('ok'),
    tenant: Type.String(),
    auth: Type.Union([Type.Literal('jwt'), Type.Literal('api_key')]),
    limiter: Type.Union([
      Type.Literal('normal'),
      Type.Literal('fail_open'),
      Type.Literal('fail_closed'),
      Type.Literal('local_fallback'),
    ]),
    at: Type.String({ format: 'date-time' }),
  }),
  WebhookReceived: Type.Object({ received: Type.Literal(true), event_id: Type.String() }),
  PartnerEvent: Type.Object(
    {
      event: Type.Object({
        id: Type.String(),
        type: Type.String(),
        created_at: Type.String({ format: 'date-time' }),
      }),
    },
    { description: 'The body is forwarded as received; only these fields are read.' },
  ),
  Live: Type.Object({ status: Type.Literal('ok') }),
  Ready: Type.Object({ status: Type.Union([Type.Literal('ready'), Type.Literal('starting')]) }),
  KeysStatus,
} satisfies Record<string, TSchema>;

type SchemaName = keyof typeof GatewaySchemas;

interface Operation {
  readonly methods: readonly ('get' | 'post' | 'put' | 'patch' | 'delete')[];
  readonly path: string;
  readonly summary: string;
  /** `credential`: a Bearer access token of auth-service or an X-API-Key; `signature`: a partner's HMAC. */
  readonly auth: 'none' | 'credential' | 'signature';
  readonly request?: SchemaName;
  readonly success: readonly { status: number; description: string; schema?: SchemaName }[];
  readonly errors: readonly GatewayErrorCode[];
}

/** Answers any request can get, whatever its route. */
export const COMMON_ERRORS: readonly GatewayErrorCode[] = [
  'invalid_request_target',
  'invalid_path',
  'path_outside_api',
  'malformed_request',
  'request_timeout',
  'headers_too_large',
  'method_not_allowed',
  'internal_error',
];
/** Answers of every /api/ route before it is served: the failure budget, the credential, the limits. */
const API_ERRORS: readonly GatewayErrorCode[] = [
  'too_many_auth_failures',
  'auth_unavailable',
  'unauthorized',
  'tenant_mismatch',
  'rate_limited',
  'rate_limiter_unavailable',
];

export const GATEWAY_OPERATIONS: readonly Operation[] = [
  {
    methods: ['get'],
    path: '/api/tenant/ping',
    summary: "Authenticated and charged to the tenant's limits, answered by the gateway itself (no scope).",
    auth: 'credential',
    success: [
      { status: 200, description: 'Allowed (RateLimit-Policy and RateLimit headers).', schema: 'Ping' },
    ],
    errors: API_ERRORS,
  },
  {
    methods: ['get', 'post', 'put', 'patch', 'delete'],
    path: '/api/{path}',
    summary:
      "Proxied to the upstream after authentication, the route's scope and the tenant's limits; identity headers replace the credential (docs/contracts.md).",
    auth: 'credential',
    success: [{ status: 200, description: "The upstream's answer, passed through (any status)." }],
    errors: [...API_ERRORS, 'insufficient_scope', 'not_found', 'upstream_timeout', 'upstream_unavailable'],
  },
  {
    methods: ['post'],
    path: '/webhooks/{partner}/{tenant}',
    summary: 'A partner webhook: signed body, replay-checked, forwarded upstream or recorded.',
    auth: 'signature',
    request: 'PartnerEvent',
    success: [
      { status: 200, description: 'Forwarded to the upstream.', schema: 'WebhookReceived' },
      { status: 202, description: 'Accepted (no upstream configured).', schema: 'WebhookReceived' },
    ],
    errors: [
      'not_found',
      'payload_too_large',
      'webhook_signature_invalid',
      'webhook_malformed',
      'webhook_stale',
      'webhook_replayed',
      'webhook_unavailable',
      'upstream_error',
    ],
  },
  {
    methods: ['get'],
    path: '/healthz',
    summary: 'Liveness.',
    auth: 'none',
    success: [{ status: 200, description: 'The process answers.', schema: 'Live' }],
    errors: [],
  },
  {
    methods: ['get'],
    path: '/readyz',
    summary: 'Readiness: tenant limits loaded (or Redis known down, so failure modes apply).',
    auth: 'none',
    success: [
      { status: 200, description: 'Ready.', schema: 'Ready' },
      { status: 503, description: 'Starting (not an error envelope).', schema: 'Ready' },
    ],
    errors: [],
  },
  {
    methods: ['get'],
    path: '/openapi.json',
    summary: 'This document (OpenAPI 3.1).',
    auth: 'none',
    success: [{ status: 200, description: 'The document.' }],
    errors: [],
  },
  {
    methods: ['get'],
    path: '/keys/status',
    summary: 'The JWKS this replica verifies with (docs/contracts.md, GET /keys/status).',
    auth: 'none',
    success: [{ status: 200, description: 'The loaded key set.', schema: 'KeysStatus' }],
    errors: [],
  },
];

/** The OpenAPI 3.1 document of the gateway's public port. */
export function gatewayOpenApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of GATEWAY_OPERATIONS)
    for (const method of op.methods) paths[op.path] = { ...paths[op.path], [method]: operation(op, method) };
  return {
    openapi: '3.1.0',
    info: {
      title: 'NovaPOS integration-gateway',
      version: '1',
      description:
        'The public port (8083): /api/ authenticated (auth-service JWT or API key), scoped, rate-limited per tenant and proxied; partner webhooks; health and key status. Every error answer is `{ error: { code, message } }` with a stable code (the table in x-error-codes); the request id is in the X-Request-ID header. HEAD is answered as GET without the body. /metrics and POST /keys/reload are on the admin port (9083).',
    },
    servers: [{ url: 'http://127.0.0.1:8083' }],
    'x-error-codes': Object.fromEntries(
      Object.entries(GATEWAY_ERRORS).map(([code, [status, meaning]]) => [code, { status, meaning }]),
    ),
    components: {
      schemas: schemaComponents(GatewaySchemas),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        partnerSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'X-CC-Webhook-Signature',
          description: "Hex HMAC-SHA256 of the body with the partner's secret.",
        },
      },
      parameters: {
        tenant: {
          name: 'X-Tenant-ID',
          in: 'header',
          required: false,
          description: "When given, must be the credential's tenant (else 403 tenant_mismatch).",
          schema: { type: 'string' },
        },
        requestId: {
          name: 'X-Request-ID',
          in: 'header',
          required: false,
          description: 'Echoed; a new one is made when absent or not a safe token.',
          schema: { type: 'string' },
        },
        traceparent: { name: 'traceparent', in: 'header', required: false, schema: { type: 'string' } },
      },
      headers: {
        RateLimitPolicy: {
          description: 'RFC draft RateLimit-Policy (structured field).',
          schema: { type: 'string' },
        },
        RateLimit: {
          description: 'RFC draft RateLimit: the policy with the least remaining.',
          schema: { type: 'string' },
        },
        RetryAfter: { description: 'Seconds to wait.', schema: { type: 'integer', minimum: 1 } },
      },
    },
    paths,
  };
}

function operation(op: Operation, method: string): Record<string, unknown> {
  const ref = (kind: 'schemas' | 'parameters' | 'headers', name: string) => ({
    $ref: `#/components/${kind}/${name}`,
  });
  const responses: Record<string, unknown> = {};
  const limited = op.auth === 'credential';
  for (const s of op.success)
    responses[String(s.status)] = {
      description: s.description,
      ...(limited
        ? {
            headers: {
              'RateLimit-Policy': ref('headers', 'RateLimitPolicy'),
              RateLimit: ref('headers', 'RateLimit'),
            },
          }
        : {}),
      ...(s.schema ? { content: { 'application/json': { schema: ref('schemas', s.schema) } } } : {}),
    };
  const retry = (status: number) => status === 429 || (status === 503 && op.auth !== 'none');
  Object.assign(
    responses,
    errorResponses(
      new Set([...COMMON_ERRORS, ...op.errors]),
      (code) => GATEWAY_ERRORS[code][0],
      (status) => (retry(status) ? { headers: { 'Retry-After': ref('headers', 'RetryAfter') } } : {}),
    ),
  );
  const params: unknown[] = [ref('parameters', 'requestId'), ref('parameters', 'traceparent')];
  if (op.auth === 'credential') params.unshift(ref('parameters', 'tenant'));
  for (const name of op.path.match(/\{(\w+)\}/g) ?? [])
    params.push({ name: name.slice(1, -1), in: 'path', required: true, schema: { type: 'string' } });
  const security =
    op.auth === 'credential'
      ? [{ bearer: [] }, { apiKey: [] }]
      : op.auth === 'signature'
        ? [{ partnerSignature: [] }]
        : [];
  return {
    operationId: operationId(method, op.path),
    summary: op.summary,
    parameters: params,
    security,
    ...(op.request
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('schemas', op.request) } },
          },
        }
      : {}),
    responses,
  };
}

export const GATEWAY_OPENAPI_FILE = new URL('../openapi.json', import.meta.url);

/** The committed document's text (biome's JSON format is applied by the caller: npm run generate). */
export const gatewayOpenApiText = (): string => `${JSON.stringify(gatewayOpenApiDocument(), null, 2)}\n`;

// `npx tsx services/integration-gateway/src/openapi.ts`: regenerate the committed document.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(GATEWAY_OPENAPI_FILE, gatewayOpenApiText());
  process.stdout.write(
    'wrote services/integration-gateway/openapi.json (then: npx biome format --write it)\n',
  );
}
