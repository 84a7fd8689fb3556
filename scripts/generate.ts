/**
 * `npm run generate`: writes the CRDs (crds/) and the admission policies (operator/admission/) from the API
 * types in operator/src/api. Files in those folders that the generator no longer produces are removed.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENERATED_DIRS, generatedFiles } from '../operator/src/api/generated.js';

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
