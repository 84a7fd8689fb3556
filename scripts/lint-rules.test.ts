import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The source-only lint rules of biome.json (the override for source folders): non-null assertions and the
// no-error-cast plugin (biome-plugins/no-error-cast.grit). Each is shown to fail on a deliberate violation
// in every source folder and to leave test files alone, with the repository's own configuration.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const biome = path.join(root, 'node_modules', '.bin', 'biome');

interface Diagnostic {
  readonly category: string;
  readonly severity: string;
  readonly message: string;
  readonly location: { readonly path: string; readonly start: { readonly line: number } };
}

const sandbox = mkdtempSync(path.join(tmpdir(), 'novapos-lint-rules-'));
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));
const config = JSON.parse(readFileSync(path.join(root, 'biome.json'), 'utf8'));
delete config.$schema;
writeFileSync(path.join(sandbox, 'biome.json'), JSON.stringify(config));
cpSync(path.join(root, 'biome-plugins'), path.join(sandbox, 'biome-plugins'), { recursive: true });

const violations = `export async function f(x: string | undefined, p: Promise<number>): Promise<string> {
  try {
    return x!;
  } catch (err) {
    return (err as Error).message;
  }
}
export const g = (p: Promise<number>) => p.catch((err: Error) => err.name);
export const h = (e: unknown) => e as Error & { code?: string };
export const fine = (e: unknown) => (e instanceof TypeError ? e : (e as { code?: string }));
`;
const sourceFolders = [
  'operator/src',
  'lib',
  'services/auth-service/src',
  'services/integration-gateway/src/domain',
  'scripts',
  'infra',
  'cli/src/verbs',
  'charts/src/constructs',
  'alerts/src',
  'bench',
];
const files = sourceFolders.flatMap((dir) => [`${dir}/sample.ts`, `${dir}/sample.test.ts`]);
for (const file of [...files, 'operator/src/sample.test-support.ts']) {
  mkdirSync(path.dirname(path.join(sandbox, file)), { recursive: true });
  writeFileSync(path.join(sandbox, file), violations);
}

function lint(): Diagnostic[] {
  let out: string;
  try {
    out = execFileSync(biome, ['lint', '--reporter=json', '--max-diagnostics=none', '.'], {
      cwd: sandbox,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    // biome exits 1 when it reports an error; the report is on stdout all the same.
    out = String((err as { stdout?: unknown }).stdout ?? '');
  }
  return (JSON.parse(out) as { diagnostics: Diagnostic[] }).diagnostics;
}

describe('the source-only lint rules (biome.json)', () => {
  const diagnostics = lint();
  const lines = (file: string, category: string) =>
    diagnostics
      .filter((d) => d.location.path === file && d.category === category && d.severity === 'error')
      .map((d) => d.location.start.line)
      .sort((a, b) => a - b);

  it.each(sourceFolders)('report a non-null assertion and each Error cast in %s', (dir) => {
    expect(lines(`${dir}/sample.ts`, 'lint/style/noNonNullAssertion')).toEqual([3]);
    expect(lines(`${dir}/sample.ts`, 'plugin')).toEqual([5, 8, 9]);
    const plugin = diagnostics.find((d) => d.location.path === `${dir}/sample.ts` && d.category === 'plugin');
    expect(plugin?.message).toContain('describeError');
  });

  it.each([...sourceFolders.map((dir) => `${dir}/sample.test.ts`), 'operator/src/sample.test-support.ts'])(
    'leave %s alone',
    (file) => {
      expect(lines(file, 'lint/style/noNonNullAssertion')).toEqual([]);
      expect(lines(file, 'plugin')).toEqual([]);
    },
  );
});
