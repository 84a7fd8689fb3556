import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  GATEWAY_ERRORS,
  GATEWAY_OPENAPI_FILE,
  GATEWAY_OPERATIONS,
  type GatewayErrorCode,
  gatewayOpenApiDocument,
} from './openapi.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');

/** The gateway's sources (tests excluded) and the service kit's error answers it uses. */
function sources(): { file: string; text: string }[] {
  const files = (readdirSync(here, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('openapi'))
    .map((f) => path.join(here, f));
  files.push(path.join(repo, 'lib/service-kit/http.ts'));
  return files.map((file) => ({ file: path.relative(repo, file), text: readFileSync(file, 'utf8') }));
}

/** Every (status, code) the code answers with literal values. */
function answeredCodes(): { where: string; status: number; code: string }[] {
  const patterns = [
    /sendError\(\s*res,\s*(\d{3}),\s*'([a-z_]+)'/g,
    /rawErrorResponse\(\s*(\d{3}),\s*'[^']*',\s*'([a-z_]+)'/g,
    /status: (\d{3}),\s*code: '([a-z_]+)'/g, // the webhook refusals table
    /status === (\d{3}) \? '([a-z_]+)'/g, // app.ts refuse(): an authentication failure's code by status
  ];
  const found: { where: string; status: number; code: string }[] = [];
  for (const { file, text } of sources())
    for (const re of patterns)
      for (const m of text.matchAll(re))
        found.push({ where: file, status: Number(m[1]), code: String(m[2]) });
  return found;
}

describe('integration-gateway OpenAPI document', () => {
  it('the committed services/integration-gateway/openapi.json is what openapi.ts generates (no drift)', () => {
    const committed = JSON.parse(readFileSync(GATEWAY_OPENAPI_FILE, 'utf8')) as unknown;
    expect(committed, 'run: npm run generate').toEqual(gatewayOpenApiDocument());
  });

  it("lists every error code the gateway's code answers, with the status it answers it with", () => {
    const found = answeredCodes();
    expect(found.length).toBeGreaterThan(20);
    for (const { where, status, code } of found) {
      expect(code in GATEWAY_ERRORS, `${code} (${where}) is not in GATEWAY_ERRORS`).toBe(true);
      expect(GATEWAY_ERRORS[code as GatewayErrorCode][0], `${code} (${where})`).toBe(status);
    }
  });

  it('lists no code the gateway never answers, and every code under some operation', () => {
    const all = sources()
      .map((s) => s.text)
      .join('\n');
    const doc = gatewayOpenApiDocument() as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>;
    };
    const text = JSON.stringify(doc.paths);
    for (const code of Object.keys(GATEWAY_ERRORS)) {
      expect(all, `${code} is never answered by the gateway`).toContain(`'${code}'`);
      expect(text, `${code} belongs to no operation`).toContain(`"${code}"`);
    }
  });

  it('describes the routes the handler serves', () => {
    const app = readFileSync(path.join(here, 'app.ts'), 'utf8');
    for (const op of GATEWAY_OPERATIONS) {
      const literal = op.path.startsWith('/api/{') ? '/api/' : op.path.replace(/\{.*$/, '');
      expect(app, op.path).toContain(`'${literal}`);
    }
  });
});
