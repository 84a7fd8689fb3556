import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from './domain/errors.js';
import { OPENAPI_FILE, openApiDocument } from './openapi.js';

describe('OpenAPI document', () => {
  it('the committed services/auth-service/openapi.json is what the schemas generate (no drift)', () => {
    const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as unknown;
    expect(committed, 'run: npx tsx services/auth-service/src/openapi.ts').toEqual(openApiDocument());
  });

  it('is OpenAPI 3.1, and every error code is answered by some operation with its own status', () => {
    const doc = openApiDocument() as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            responses: Record<
              string,
              {
                content?: {
                  'application/json': {
                    schema: { properties?: { error: { properties: { code: { enum: string[] } } } } };
                  };
                };
              }
            >;
          }
        >
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    const seen = new Map<string, string>();
    for (const item of Object.values(doc.paths))
      for (const op of Object.values(item))
        for (const [status, r] of Object.entries(op.responses))
          for (const code of r.content?.['application/json'].schema.properties?.error.properties.code.enum ??
            [])
            seen.set(code, status);
    for (const [code, [status]] of Object.entries(ERRORS)) {
      if (['method_not_allowed', 'origin_not_allowed', 'not_found'].includes(code) && !seen.has(code))
        continue;
      expect(seen.get(code), code).toBe(String(status));
    }
  });
});
