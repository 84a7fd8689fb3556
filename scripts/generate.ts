/**
 * `npm run generate`: writes the CRDs (crds/) and the admission policies (operator/admission/) from the API
 * types in operator/src/api. Files in those folders that the generator no longer produces are removed.
 * Also the integration-gateway's OpenAPI document (services/integration-gateway/openapi.json).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_DIRS, generatedFiles } from '../operator/src/api/generated.js';
import { GATEWAY_OPENAPI_FILE, gatewayOpenApiText } from '../services/integration-gateway/src/openapi.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const files = generatedFiles();
const wanted = new Set(files.map((f) => f.path));

for (const dir of GENERATED_DIRS) {
  mkdirSync(path.join(root, dir), { recursive: true });
  for (const name of readdirSync(path.join(root, dir))) {
    const rel = `${dir}/${name}`;
    if (!wanted.has(rel)) {
      rmSync(path.join(root, rel));
      console.log(`removed ${rel}`);
    }
  }
}
for (const file of files) {
  writeFileSync(path.join(root, file.path), file.content);
  console.log(`wrote ${file.path}`);
}

// The gateway's OpenAPI document, in biome's JSON format (lint checks it; openapi.test.ts checks for drift).
const gatewayOpenApi = fileURLToPath(GATEWAY_OPENAPI_FILE);
writeFileSync(gatewayOpenApi, gatewayOpenApiText());
execFileSync(path.join(root, 'node_modules/.bin/biome'), ['format', '--write', gatewayOpenApi], {
  stdio: 'ignore',
});
console.log(`wrote ${path.relative(root, gatewayOpenApi)}`);
