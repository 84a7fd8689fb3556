#!/usr/bin/env node
// Bundles kubectl-novapos into one executable file with its own shebang: every npm package inlined, so it
// runs without the repository. A banner checks the Node version before anything else runs and says so in
// one line on an older Node (the bundle's syntax is lowered so that an older Node can parse it and get
// that far).
//
//   node cli/build.mjs [out-file]     default dist/cli/kubectl-novapos (ignored by git)
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MIN_NODE_MAJOR = 24;
const out = path.resolve(process.argv[2] ?? path.join(root, 'dist/cli/kubectl-novapos'));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

const banner = [
  '#!/usr/bin/env node',
  `// kubectl-novapos ${pkg.version}: needs Node.js >= ${MIN_NODE_MAJOR}.`,
  `if (Number(process.versions.node.split('.')[0]) < ${MIN_NODE_MAJOR}) { process.stderr.write('kubectl-novapos needs Node.js ${MIN_NODE_MAJOR} or newer; this is Node.js ' + process.versions.node + '\\n'); process.exit(1); }`,
  // Bundled CommonJS packages call require() for Node's built-ins.
  "import { createRequire as __novaposCreateRequire } from 'node:module';",
  'const require = __novaposCreateRequire(import.meta.url);',
].join('\n');

mkdirSync(path.dirname(out), { recursive: true });
await build({
  entryPoints: [path.join(root, 'cli/src/bin.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  // Node 20 can parse the bundle, so an older Node reaches the version check instead of a syntax error.
  target: 'node20',
  banner: { js: banner },
  define: { __NOVAPOS_CLI_VERSION__: JSON.stringify(pkg.version) },
  // Optional peers of bundled packages (ws), loaded only if present.
  external: ['bufferutil', 'utf-8-validate'],
  legalComments: 'none',
  logLevel: 'warning',
});
chmodSync(out, 0o755);
process.stdout.write(`${path.relative(process.cwd(), out)}\n`);
