/**
 * The project's own images, built without a registry as a user's `docker build` would make them: the Debian
 * base and Node LTS layers (base-image.ts) plus the application layer that scripts/build-app.mjs writes to
 * /app (the Dockerfile runs the same script). Each application layer is cached by the hash of its inputs
 * (the non-test sources under lib/ and the component's own folder, package-lock.json and the build script
 * itself), so a warm run builds nothing; all the images go into one archive and one `ctr images import`.
 *
 *   const images = await importAppImages(node);          // every component
 *   images['auth-service'].image                        // novapos.local/auth-service:<input hash>
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { debianBaseLayer, imageCacheDir, nodeLtsLayer } from './base-image.js';
import { buildImagesArchive, type ImageSpec, type LayerTar, layerFromDir } from './images.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const appCacheDir = path.join(imageCacheDir, 'app');

/** The components scripts/build-app.mjs builds (its COMPONENTS), each one image. */
export const APP_COMPONENTS = [
  'operator',
  'auth-service',
  'integration-gateway',
  'audit-service',
  'db-roles',
] as const;
export type AppComponent = (typeof APP_COMPONENTS)[number];

/** build-app.mjs's manifest.json: every file of the application layer with its sha256. */
export interface AppManifest {
  readonly component: string;
  readonly entry: string;
  readonly files: readonly { readonly path: string; readonly sha256: string; readonly size: number }[];
}

export interface AppImage {
  readonly component: AppComponent;
  /** `novapos.local/<component>:<first 12 hex of the inputs hash>`. */
  readonly image: string;
  /** The application layer (a tar of /app), cached by inputs hash. */
  readonly layer: LayerTar;
  readonly manifest: AppManifest;
  /** False when the cached layer was used. */
  readonly built: boolean;
  /** Seconds spent getting the layer (build or cache hit). */
  readonly seconds: number;
}

/**
 * Source files whose change can change a component's bundle: everything under its roots but tests and
 * node_modules (lib/ is shared; no component imports another's folder).
 */
const INPUT_ROOTS: Record<AppComponent, readonly string[]> = {
  operator: ['lib', 'operator'],
  'auth-service': ['lib', 'services/auth-service'],
  'integration-gateway': ['lib', 'services/integration-gateway'],
  'audit-service': ['lib', 'services/audit-service'],
  // scripts/db-roles.ts bootstraps the roles of both databases (the two services' storage/roles.ts).
  'db-roles': ['lib', 'services/auth-service/src/storage', 'services/audit-service', 'scripts/db-roles.ts'],
};
const INPUT_FILES = ['package-lock.json', 'scripts/build-app.mjs', 'tsconfig.json'];

function inputFiles(component: AppComponent): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(repoRoot, rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'dist' && !e.name.startsWith('.')) walk(child);
      } else if (e.isFile() && !/\.test\.ts$/.test(e.name)) out.push(child);
    }
  };
  for (const r of INPUT_ROOTS[component]) {
    if (statSync(path.join(repoRoot, r)).isDirectory()) walk(r);
    else out.push(r);
  }
  for (const f of INPUT_FILES) if (existsSync(path.join(repoRoot, f))) out.push(f);
  return out.sort();
}

/** sha256 over the paths and contents of every input of a component's application layer. */
export function appInputsHash(component: AppComponent): string {
  const h = createHash('sha256');
  for (const f of inputFiles(component)) {
    h.update(f)
      .update('\0')
      .update(readFileSync(path.join(repoRoot, f)))
      .update('\0');
  }
  return h.digest('hex');
}

interface CachedApp {
  readonly layer: LayerTar;
  readonly manifest: AppManifest;
}

/** The application layer of `component` for inputs `hash`: from the cache, or built and cached now. */
async function appLayer(
  component: AppComponent,
  hash: string,
): Promise<{ cached: CachedApp; built: boolean }> {
  mkdirSync(appCacheDir, { recursive: true });
  const key = `${component}-${hash.slice(0, 16)}`;
  const meta = path.join(appCacheDir, `${key}.json`);
  const tar = path.join(appCacheDir, `${key}.tar`);
  if (existsSync(meta) && existsSync(tar)) {
    return { cached: JSON.parse(readFileSync(meta, 'utf8')) as CachedApp, built: false };
  }
  const work = mkdtempSync(path.join(appCacheDir, `.${component}-`));
  try {
    const appDir = path.join(work, 'rootfs', 'app');
    await run(process.execPath, [path.join(repoRoot, 'scripts/build-app.mjs'), component, appDir], {
      cwd: repoRoot,
      maxBuffer: 16 * 1024 * 1024,
    });
    const manifest = JSON.parse(readFileSync(path.join(appDir, 'manifest.json'), 'utf8')) as AppManifest;
    const layer = layerFromDir(path.join(work, 'rootfs'), path.join(work, 'layer.tar'), { rootOwned: true });
    renameSync(layer.path, tar);
    const cached: CachedApp = { layer: { ...layer, path: tar }, manifest };
    writeFileSync(meta, JSON.stringify(cached));
    // One version per component is kept: older layers go.
    for (const f of readdirSync(appCacheDir)) {
      if (f.startsWith(`${component}-`) && !f.startsWith(key))
        rmSync(path.join(appCacheDir, f), { force: true });
    }
    return { cached, built: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The image spec of a component: base layers, its application layer, the Dockerfile's entry point and user. */
export function appImageSpec(image: string, appLayerTar: LayerTar): ImageSpec {
  return {
    name: image,
    baseLayers: [debianBaseLayer(), nodeLtsLayer(), appLayerTar],
    files: [],
    entrypoint: ['/usr/local/bin/node', '--enable-source-maps', 'main.js'],
    workingDir: '/app',
    env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
    user: '10001:10001',
  };
}

/** Builds (or takes from the cache) the application layers of `components`. */
export async function appImages(
  components: readonly AppComponent[] = APP_COMPONENTS,
): Promise<Record<AppComponent, AppImage>> {
  const out: Partial<Record<AppComponent, AppImage>> = {};
  // One at a time: esbuild already uses both cores.
  for (const component of components) {
    const started = Date.now();
    const hash = appInputsHash(component);
    const { cached, built } = await appLayer(component, hash);
    out[component] = {
      component,
      image: `novapos.local/${component}:${hash.slice(0, 12)}`,
      layer: cached.layer,
      manifest: cached.manifest,
      built,
      seconds: (Date.now() - started) / 1000,
    };
  }
  return out as Record<AppComponent, AppImage>;
}

/** Anything with an `importImage(archive)`: the harness's NodeInstance. */
export interface ImageImporter {
  importImage(archive: string): Promise<void>;
}

/**
 * Builds (or reuses) the images of `components` and imports them into the node's containerd in one archive.
 * Logs what was built and how long each part took.
 */
export async function importAppImages(
  node: ImageImporter,
  components: readonly AppComponent[] = APP_COMPONENTS,
): Promise<Record<AppComponent, AppImage>> {
  const t0 = Date.now();
  const images = await appImages(components);
  const t1 = Date.now();
  const work = mkdtempSync(path.join(imageCacheDir, '.archive-'));
  try {
    const archive = buildImagesArchive(
      components.map((c) => appImageSpec(images[c].image, images[c].layer)),
      work,
      'novapos-apps',
    );
    const t2 = Date.now();
    await node.importImage(archive);
    const t3 = Date.now();
    const layers = components
      .map((c) => `${c} ${images[c].built ? 'built' : 'cached'} ${images[c].seconds.toFixed(1)} s`)
      .join(', ');
    process.stderr.write(
      `[images] app layers ${((t1 - t0) / 1000).toFixed(1)} s (${layers}); archive ${((t2 - t1) / 1000).toFixed(1)} s; import ${((t3 - t2) / 1000).toFixed(1)} s\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return images;
}
