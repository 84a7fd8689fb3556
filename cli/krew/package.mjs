#!/usr/bin/env node
// Packages kubectl-novapos for krew: builds the bundle (cli/build.mjs), puts it with the completion helper
// kubectl_complete-novapos in a reproducible tar.gz (sorted, owner 0, fixed mtime and mode, gzip without
// name or time), and writes the krew manifest with the archive's sha256 for every platform (the plugin is
// one Node.js file: the same archive everywhere).
//
//   node cli/krew/package.mjs [out-dir] [archive-uri]
//     out-dir      default dist/krew
//     archive-uri  where the manifest says the archive is downloaded from; default file://<the archive>.
//                  `krew install --manifest=M --archive=A` uses the local archive and checks its sha256.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const outDir = path.resolve(process.argv[2] ?? path.join(root, 'dist/krew'));
const name = `kubectl-novapos-v${version}.tar.gz`;

mkdirSync(outDir, { recursive: true });
const stage = mkdtempSync(path.join(tmpdir(), 'kubectl-novapos-krew-'));
try {
  execFileSync(process.execPath, [path.join(root, 'cli/build.mjs'), path.join(stage, 'kubectl-novapos')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  copyFileSync(path.join(here, 'kubectl_complete-novapos'), path.join(stage, 'kubectl_complete-novapos'));
  for (const f of ['kubectl-novapos', 'kubectl_complete-novapos']) chmodSync(path.join(stage, f), 0o755);
  const tar = path.join(outDir, name.replace(/\.gz$/, ''));
  execFileSync('tar', [
    '--create',
    `--file=${tar}`,
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    `--directory=${stage}`,
    'kubectl-novapos',
    'kubectl_complete-novapos',
  ]);
  execFileSync('gzip', ['-n', '-f', '-9', tar]);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

const archive = path.join(outDir, name);
const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
// Default: the archive where it was written; a release passes its download URL.
const uri = process.argv[3] ?? `file://${archive}`;
const manifest = readFileSync(path.join(here, 'novapos.yaml.tmpl'), 'utf8')
  .replaceAll('{{VERSION}}', `v${version}`)
  .replaceAll('{{URI}}', uri)
  .replaceAll('{{SHA256}}', sha256);
writeFileSync(path.join(outDir, 'novapos.yaml'), manifest);
writeFileSync(path.join(outDir, `${name}.sha256`), `${sha256}  ${name}\n`);
process.stdout.write(
  `${path.relative(process.cwd(), archive)} ${sha256}\n${path.relative(process.cwd(), path.join(outDir, 'novapos.yaml'))}\n`,
);
