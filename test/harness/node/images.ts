/**
 * Container images without a registry: a one-layer OCI image archive assembled from files on this machine,
 * imported into the node's containerd with `ctr images import`. Pods run them with `imagePullPolicy: Never`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

export interface ImageFile {
  /** Absolute path inside the image. */
  readonly path: string;
  /** Copied from this file on the machine... */
  readonly from?: string;
  /** ...or written with this content... */
  readonly content?: string;
  /** ...or a symlink to this target. */
  readonly symlink?: string;
  readonly mode?: number;
}

/** A prebuilt, uncompressed layer tar (kept in the cache), with its sha256 (its diff ID and digest). */
export interface LayerTar {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface ImageSpec {
  /** Full reference, registry included: `novapos.local/busybox:1`. */
  readonly name: string;
  /** Layers below the one made of `files`, bottom first. */
  readonly baseLayers?: readonly LayerTar[];
  readonly files: readonly ImageFile[];
  /** Empty directories to create (e.g. /tmp). */
  readonly dirs?: readonly string[];
  /** Directory trees copied in whole (an application built by scripts/build-app.mjs to /app). */
  readonly trees?: readonly { readonly from: string; readonly to: string }[];
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly env?: readonly string[];
  readonly workingDir?: string;
  readonly user?: string;
}

function sha256File(file: string): string {
  // Streamed in chunks: a base layer is hundreds of megabytes.
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4 * 1024 * 1024);
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function writeBlob(blobs: string, data: Buffer | string): { digest: string; size: number } {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const hex = createHash('sha256').update(buf).digest('hex');
  writeFileSync(path.join(blobs, hex), buf);
  return { digest: `sha256:${hex}`, size: buf.length };
}

/** Writes an OCI image layout archive (tar) for `spec` into `workDir`; returns its path. */
export function buildImageArchive(spec: ImageSpec, workDir: string): string {
  return buildImagesArchive([spec], workDir, spec.name.replace(/[^a-zA-Z0-9.-]+/g, '_'));
}

/** The layer made of a spec's files, dirs and trees; undefined when it has none (only prebuilt layers). */
function topLayer(spec: ImageSpec, dir: string): LayerTar | undefined {
  if (!spec.files.length && !spec.dirs?.length && !spec.trees?.length) return undefined;
  const rootfs = path.join(dir, 'rootfs');
  rmSync(rootfs, { recursive: true, force: true });
  mkdirSync(rootfs, { recursive: true });
  for (const d of spec.dirs ?? []) mkdirSync(path.join(rootfs, d), { recursive: true, mode: 0o1777 });
  for (const t of spec.trees ?? []) cpSync(t.from, path.join(rootfs, t.to), { recursive: true });
  for (const f of spec.files) {
    const target = path.join(rootfs, f.path);
    mkdirSync(path.dirname(target), { recursive: true });
    if (f.symlink !== undefined) symlinkSync(f.symlink, target);
    else if (f.from !== undefined) copyFileSync(f.from, target);
    else writeFileSync(target, f.content ?? '');
    if (f.symlink === undefined)
      chmodSync(target, f.mode ?? (f.from ? statSync(f.from).mode & 0o7777 : 0o644));
  }
  for (const d of spec.dirs ?? []) chmodSync(path.join(rootfs, d), 0o1777);
  // Deterministic layer: same files, same digest.
  const layer = layerFromDir(rootfs, path.join(dir, 'layer.tar'), { rootOwned: true });
  rmSync(rootfs, { recursive: true, force: true });
  return layer;
}

/**
 * Writes one OCI image layout archive holding every image of `specs` (layers they share are stored once, so
 * one `ctr images import` brings them all) into `workDir` as `<name>.tar`; returns its path.
 */
export function buildImagesArchive(specs: readonly ImageSpec[], workDir: string, name: string): string {
  const dir = path.join(workDir, `${name}.layout`);
  rmSync(dir, { recursive: true, force: true });
  const layout = path.join(dir, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const manifests: unknown[] = [];
  specs.forEach((spec, i) => {
    const top = topLayer(spec, path.join(dir, `image-${i}`));
    if (top) renameSync(top.path, path.join(blobs, top.sha256));
    const layers = [...(spec.baseLayers ?? []), ...(top ? [top] : [])];
    for (const l of spec.baseLayers ?? []) {
      const blob = path.join(blobs, l.sha256);
      if (!existsSync(blob)) linkOrCopy(l.path, blob);
    }
    const config = writeBlob(
      blobs,
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {
          ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
          ...(spec.cmd ? { Cmd: spec.cmd } : {}),
          Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
          ...(spec.user ? { User: spec.user } : {}),
        },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${l.sha256}`) },
        history: [{ created_by: 'novapos test harness (test/harness/node/images.ts)' }],
      }),
    );
    const manifest = writeBlob(
      blobs,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: layers.map((l) => ({
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: `sha256:${l.sha256}`,
          size: l.size,
        })),
      }),
    );
    manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      platform: { architecture: 'amd64', os: 'linux' },
      annotations: {
        'io.containerd.image.name': spec.name,
        'org.opencontainers.image.ref.name': spec.name.slice(spec.name.lastIndexOf(':') + 1),
      },
    });
  });
  writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
  );
  const archive = path.join(workDir, `${name}.tar`);
  execFileSync('tar', ['-C', layout, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
  rmSync(dir, { recursive: true, force: true });
  return archive;
}

/**
 * An uncompressed, reproducible layer tar of `dir` (sorted, mtimes zeroed). `rootOwned` makes every file
 * root's (files assembled by the harness); without it the numeric owners are kept (a debootstrap tree).
 */
export function layerFromDir(dir: string, out: string, opts: { rootOwned?: boolean } = {}): LayerTar {
  execFileSync('tar', [
    '--sort=name',
    '--mtime=@0',
    ...(opts.rootOwned ? ['--owner=0', '--group=0'] : []),
    '--numeric-owner',
    '-C',
    dir,
    '-cf',
    out,
    '.',
  ]);
  return { path: out, sha256: sha256File(out), size: statSync(out).size };
}

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/** Debian's static busybox with a link per applet: `sh`, `wget`, `nslookup`, `httpd`... */
export function busyboxImage(name: string): ImageSpec {
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((a) => a.trim())
    .filter((a) => a && a !== 'busybox');
  return {
    name,
    files: [
      { path: '/bin/busybox', from: '/bin/busybox', mode: 0o755 },
      ...applets.map((a) => ({ path: `/bin/${a}`, symlink: 'busybox' })),
      {
        path: '/etc/passwd',
        content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
      },
      { path: '/etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
    ],
    dirs: ['/tmp', '/root'],
    cmd: ['/bin/sh'],
  };
}

/** The pod sandbox ("pause") image: busybox sleeping for ever as PID 1 (containerd stops it with SIGKILL). */
export function sandboxImage(name: string): ImageSpec {
  return {
    name,
    files: [{ path: '/bin/busybox', from: '/bin/busybox', mode: 0o755 }],
    entrypoint: ['/bin/busybox', 'sleep', '2147483647'],
  };
}

/** CoreDNS alone: a static binary. */
export function corednsImage(name: string, binary: string): ImageSpec {
  return {
    name,
    files: [{ path: '/coredns', from: binary, mode: 0o755 }],
    entrypoint: ['/coredns'],
  };
}

/** The shared libraries a dynamically linked binary needs, from `ldd`, as image files at the same paths. */
export function sharedLibraries(binary: string): ImageFile[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs = new Set<string>();
  for (const line of out.split('\n')) {
    const m = line.match(/(?:=>\s*)?(\/\S+)\s+\(0x/);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs].map((lib) => ({ path: lib, from: realpathSync(lib), mode: 0o755 }));
}

/**
 * busybox plus kubectl (the harness's, with its shared libraries): a real API client for pods, which uses
 * the pod's ServiceAccount token and checks the apiserver against the mounted CA (in-cluster config).
 */
export function kubectlImage(name: string, kubectlBinary: string): ImageSpec {
  const base = busyboxImage(name);
  return {
    ...base,
    files: [
      ...base.files,
      { path: '/usr/local/bin/kubectl', from: kubectlBinary, mode: 0o755 },
      ...sharedLibraries(kubectlBinary),
    ],
  };
}
