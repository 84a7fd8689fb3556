import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript (the Dockerfile runs it with node alone); no declaration file.
import { buildApp, COMPONENTS } from './build-app.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(path.join(tmpdir(), 'novapos-build-app-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface Manifest {
  component: string;
  entry: string;
  files: { path: string; sha256: string; size: number }[];
}

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? filesUnder(path.join(dir, e.name), base)
      : [path.relative(base, path.join(dir, e.name))],
  );
}

// A setting each component refuses at start: the bundle then proves it loaded every module and reached its
// configuration check, and exits 2 with one line naming the variable.
const invalidSetting: Record<string, [string, string]> = {
  operator: ['OPERATOR_RECONCILE_QPS', 'abc'],
  'auth-service': ['VAULT_ADDR', ''],
  'integration-gateway': ['GATEWAY_RATE_LIMIT_RPM', 'abc'],
  'audit-service': ['KAFKA_BOOTSTRAP', 'not a host'],
  'db-roles': ['DATABASE_ADMIN_URL', 'mysql://db/novapos'],
};

describe.each(Object.keys(COMPONENTS))('the %s application layer', (component) => {
  const dir = path.join(out, component);
  let manifest: Manifest;

  it('is one bundle plus only the packages that cannot be bundled, listed in a manifest with sha256', async () => {
    manifest = await buildApp(component, dir);
    const onDisk = filesUnder(dir)
      .filter((f) => f !== 'manifest.json')
      .sort();
    expect(manifest.files.map((f) => f.path)).toEqual(onDisk);
    for (const f of manifest.files) {
      expect(
        createHash('sha256')
          .update(readFileSync(path.join(dir, f.path)))
          .digest('hex'),
      ).toBe(f.sha256);
    }
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies).sort()).toEqual([...COMPONENTS[component].external].sort());
    // Only its own runtime dependencies: no Pulumi, no test tooling, no other part's native addon.
    const shipped = onDisk.filter((f) => f.startsWith('node_modules/'));
    expect(shipped.filter((f) => /@pulumi|vitest|typescript|tsx\//.test(f))).toEqual([]);
    if (!COMPONENTS[component].external.includes('argon2')) expect(shipped).toEqual([]);
  }, 120_000);

  it('starts from the bundle alone and refuses an invalid setting with one clear line', () => {
    const [name, value] = invalidSetting[component] ?? ['', ''];
    const run = spawnSync(process.execPath, ['main.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH, [name]: value },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status, run.stderr + run.stdout).toBe(2);
    expect(run.stdout + run.stderr).toContain(name);
    // It wrote nothing into its own layer (an image's root filesystem is read-only): the layer is as built.
    const now = filesUnder(dir)
      .filter((f) => f !== 'manifest.json')
      .sort();
    expect(now).toEqual(manifest.files.map((f) => f.path));
    for (const f of manifest.files) {
      expect(
        createHash('sha256')
          .update(readFileSync(path.join(dir, f.path)))
          .digest('hex'),
        f.path,
      ).toBe(f.sha256);
    }
  }, 60_000);
});

describe('the Dockerfile', () => {
  const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
  it('builds every image with the same script the tests run', () => {
    expect(dockerfile).toMatch(/node scripts\/build-app\.mjs "\$COMPONENT" \/app/);
    for (const component of Object.keys(COMPONENTS)) expect(dockerfile).toContain(`COMPONENT=${component}`);
  });
  it('is the only Dockerfile, on the project Node LTS, running as a numeric non-root user', () => {
    const tracked = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
    }).stdout.split('\n');
    const others = tracked.filter((f) => /(^|\/)Dockerfile[^/]*$/.test(f) && f !== 'Dockerfile');
    expect(others).toEqual([]);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-slim$/m);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
  });
});
