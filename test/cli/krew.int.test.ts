import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { aRotation } from '../signing-keys/support.js';
import { krewBinary, repoRoot, scratchDir } from './support.js';

const run = promisify(execFile);

/**
 * The krew package: cli/krew/package.mjs builds a reproducible archive and a manifest with its sha256;
 * krew (built from the Go module proxy) installs it, and kubectl finds the plugin as `kubectl novapos`.
 */
describe('kubectl-novapos through krew', () => {
  const env = inject('env');
  const version = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version as string;
  const archiveName = `kubectl-novapos-v${version}.tar.gz`;
  const out = [scratchDir('krew-pkg-a-'), scratchDir('krew-pkg-b-')];
  let krew: string;

  beforeAll(async () => {
    const [k] = await Promise.all([
      krewBinary(),
      ...out.map((dir) =>
        run(process.execPath, [
          path.join(repoRoot, 'cli/krew/package.mjs'),
          dir,
          `file://${dir}/${archiveName}`,
        ]),
      ),
    ]);
    krew = k;
  }, 660_000);

  it('packages a reproducible archive and a manifest naming its sha256', () => {
    const sha = (dir: string) =>
      createHash('sha256')
        .update(readFileSync(path.join(dir, archiveName)))
        .digest('hex');
    expect(sha(out[0]!)).toBe(sha(out[1]!));
    const manifest = parseYaml(readFileSync(path.join(out[0]!, 'novapos.yaml'), 'utf8'));
    expect(manifest).toMatchObject({
      kind: 'Plugin',
      metadata: { name: 'novapos' },
      spec: { version: `v${version}` },
    });
    expect(manifest.spec.platforms[0].sha256).toBe(sha(out[0]!));
    expect(readFileSync(path.join(out[0]!, `${archiveName}.sha256`), 'utf8')).toBe(
      `${sha(out[0]!)}  ${archiveName}\n`,
    );
  });

  it('krew installs it and kubectl runs it as kubectl novapos', async () => {
    const krewRoot = scratchDir('krew-root-');
    const base = {
      PATH: [
        path.join(krewRoot, 'bin'),
        path.dirname(env.kube!.kubectlPath),
        path.dirname(process.execPath),
        '/usr/bin',
        '/bin',
      ].join(':'),
      HOME: krewRoot,
      KREW_ROOT: krewRoot,
      KREW_NO_UPGRADE_CHECK: '1',
    };
    const install = await run(
      krew,
      [
        'install',
        `--manifest=${path.join(out[0]!, 'novapos.yaml')}`,
        `--archive=${path.join(out[0]!, archiveName)}`,
      ],
      { env: base },
    );
    expect(install.stderr).toMatch(/Installed plugin: novapos/);
    expect(existsSync(path.join(krewRoot, 'bin', 'kubectl-novapos'))).toBe(true);
    const v = await run('kubectl', ['novapos', '--version'], { env: base });
    expect(v.stdout).toBe(`${version}\n`);
    const status = await run('kubectl', ['novapos', 'status', '-A', 'skr'], {
      env: { ...base, KUBECONFIG: env.kube!.kubeconfig },
    });
    expect(status.stdout).toMatch(/^(NAMESPACE\s+RESOURCE|No NovaPOS resources found)/);

    // kubectl >= 1.26 completes `kubectl novapos …` through kubectl_complete-novapos, shipped in the
    // archive and put on the PATH as the manifest's caveats say.
    const helper = path.join(krewRoot, 'store', 'novapos', `v${version}`, 'kubectl_complete-novapos');
    expect(existsSync(helper)).toBe(true);
    symlinkSync(helper, path.join(krewRoot, 'bin', 'kubectl_complete-novapos'));
    const ns = `cli-krew-${process.pid}`;
    const kubectl = (args: string[], input?: string) =>
      new Promise<string>((resolve, reject) => {
        const child = execFile(
          'kubectl',
          args,
          { env: { ...base, KUBECONFIG: env.kube!.kubeconfig } },
          (err, out, e) => (err ? reject(new Error(e || err.message)) : resolve(out)),
        );
        child.stdin?.end(input ?? '');
      });
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['apply', '-f', '-'], JSON.stringify(aRotation(ns, 'auth', {})));
    const complete = async (...words: string[]) =>
      (await kubectl(['__complete', 'novapos', ...words])).trim().split('\n');
    expect(await complete('')).toEqual(
      expect.arrayContaining([
        'rotate\tStart a rotation now (the rotate-now annotation); --emergency skips the lead time for this one rotation',
        'check\tCRDs installed at this version, operator leading, admission policies active, your RBAC',
      ]),
    );
    expect(await complete('rotate', '')).toEqual(['skr/', ':6']);
    expect(await complete('-n', ns, 'rotate', 'skr/a')).toEqual(['skr/auth', ':4']);
    expect(await complete('drill', '')).toEqual(['run', 'report', ':4']);
  });
});
