#!/usr/bin/env node
// Builds the application layer of one image: its entry point bundled into one ESM file (every npm package
// inlined), plus only the packages that cannot be bundled (native addons, packages that load files beside
// themselves at run time) copied from node_modules with their dependency closure, at the versions
// package-lock.json pins. Writes <out>/manifest.json: every file of the layer with its sha256, so the image
// built here and the one `docker build` makes can be compared file by file.
//
//   node scripts/build-app.mjs <component> <out-dir>      component: a key of COMPONENTS below
//
// Plain JavaScript on purpose: the Dockerfiles run it with nothing but node and the repository's node_modules.
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Each image: its entry point and what stays outside the bundle. */
export const COMPONENTS = {
  operator: { entry: 'operator/src/main.ts', external: [] },
  'auth-service': {
    entry: 'services/auth-service/src/main.ts',
    // argon2 is a native addon; PGlite loads its WebAssembly and data files from beside its own module.
    external: ['argon2', '@electric-sql/pglite'],
  },
  // argon2 verifies API keys.
  'integration-gateway': { entry: 'services/integration-gateway/src/main.ts', external: ['argon2'] },
  'audit-service': { entry: 'services/audit-service/src/main.ts', external: [] },
  // The chart's Job that creates the services' PostgreSQL roles (scripts/db-roles.ts).
  'db-roles': { entry: 'scripts/db-roles.ts', external: [] },
};

// Optional peers that the bundled packages only try to load (ws, pg): absent at run time, by design.
const OPTIONAL_PEERS = ['bufferutil', 'utf-8-validate', 'pg-native', 'cloudflare:sockets'];

/** The package and everything it depends on at run time, by package-lock.json's resolution. */
function closure(names, lock) {
  const packages = lock.packages;
  const seen = new Map();
  const visit = (name, fromDir) => {
    // Node's resolution: the nearest node_modules up from the requiring package.
    let dir = fromDir;
    for (;;) {
      const key = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (packages[key]) {
        if (seen.has(key)) return;
        const entry = packages[key];
        if (entry.dev) throw new Error(`${name} is a devDependency: it cannot ship in an image`);
        seen.set(key, entry.version);
        for (const dep of Object.keys(entry.dependencies ?? {})) visit(dep, key);
        for (const dep of Object.keys(entry.optionalDependencies ?? {}))
          if (packages[`${key}/node_modules/${dep}`] || packages[`node_modules/${dep}`]) visit(dep, key);
        return;
      }
      if (!dir) throw new Error(`${name} is not in package-lock.json`);
      const up = dir.lastIndexOf('/node_modules/');
      dir = up === -1 ? '' : dir.slice(0, up);
    }
  };
  for (const name of names) visit(name, '');
  return seen;
}

/**
 * Files a module reads from beside itself (`new URL('./gcra.lua', import.meta.url)`, a migrations folder, a
 * package's WebAssembly):
 * in a bundle `import.meta.url` is main.js's, so each such URL is rewritten to `./assets/<path in the repo>`
 * and the file or folder is copied there. The code reads the same bytes in development and in the image.
 */
function assetsBeside(outDir) {
  const pattern = /new URL\((['"])([^'"]+)\1,\s*import\.meta\.url\)/g;
  return {
    name: 'assets-beside-modules',
    setup(b) {
      b.onLoad({ filter: /\.(ts|js|mjs)$/ }, (args) => {
        const loader = args.path.endsWith('.ts') ? 'ts' : 'js';
        let source = readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return { contents: source, loader };
        // `if (import.meta.url === \`file://${process.argv[1]}\`)` marks a module's own command-line use (regenerate
        // a document, bootstrap roles). In a bundle every module's import.meta.url is main.js's, so the test would be
        // true for all of them at once: in an image, no module but the entry point is the script.
        if (!args.path.includes(`${path.sep}node_modules${path.sep}`))
          source = source.replace(/import\.meta\.url === `file:\/\/\$\{process\.argv\[1\]\}`/g, 'false');
        const contents = source.replace(pattern, (whole, _q, rel) => {
          const asset = path.resolve(path.dirname(args.path), rel);
          let isDir;
          try {
            isDir = statSync(asset).isDirectory();
          } catch {
            return whole; // not a file of ours (a URL built for another purpose)
          }
          const target = path.join('assets', path.relative(root, asset));
          cpSync(asset, path.join(outDir, target), { recursive: true });
          return `new URL(${JSON.stringify(`./${target.split(path.sep).join('/')}${isDir ? '/' : ''}`)}, import.meta.url)`;
        });
        return { contents, loader };
      });
    },
  };
}

function filesUnder(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(full, base) : [path.relative(base, full)];
  });
}

export async function buildApp(component, outDir) {
  const spec = COMPONENTS[component];
  if (!spec)
    throw new Error(`unknown component "${component}": one of ${Object.keys(COMPONENTS).join(', ')}`);
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });

  await build({
    entryPoints: [path.join(root, spec.entry)],
    outfile: path.join(outDir, 'main.js'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    external: [...spec.external, ...OPTIONAL_PEERS],
    // CommonJS packages inside an ESM bundle still call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __novaposRequire } from 'node:module'; const require = __novaposRequire(import.meta.url);",
    },
    logLevel: 'warning',
    plugins: [assetsBeside(outDir)],
  });

  const shipped = closure(spec.external, lock);
  for (const key of [...shipped.keys()].sort()) {
    cpSync(path.join(root, key), path.join(outDir, key), { recursive: true, dereference: true });
  }
  const pkg = {
    name: `novapos-${component}`,
    private: true,
    type: 'module',
    dependencies: Object.fromEntries(spec.external.map((n) => [n, shipped.get(`node_modules/${n}`)])),
  };
  writeFileSync(path.join(outDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);

  const files = filesUnder(outDir)
    .filter((f) => f !== 'manifest.json')
    .sort()
    .map((f) => ({
      path: f,
      sha256: createHash('sha256')
        .update(readFileSync(path.join(outDir, f)))
        .digest('hex'),
      size: statSync(path.join(outDir, f)).size,
    }));
  const manifest = { component, entry: 'main.js', files };
  writeFileSync(path.join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [component, out] = process.argv.slice(2);
  if (!component || !out) {
    console.error(`usage: node scripts/build-app.mjs <${Object.keys(COMPONENTS).join('|')}> <out-dir>`);
    process.exit(2);
  }
  const started = Date.now();
  const manifest = await buildApp(component, path.resolve(out));
  const bytes = manifest.files.reduce((n, f) => n + f.size, 0);
  console.error(
    `[build-app] ${component}: ${manifest.files.length} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${out} (${Date.now() - started} ms)`,
  );
}
