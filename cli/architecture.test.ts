import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type IViolation } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';

// architecture.json's cli rule: the plugin talks to the operator through the API only.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = JSON.parse(readFileSync(path.join(root, 'architecture.json'), 'utf8'));

async function violationsIn(baseDir: string, dirs: string[]): Promise<IViolation[]> {
  const options: ICruiseOptions = {
    ...config.options,
    tsConfig: { fileName: path.join(root, 'tsconfig.json') },
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden },
  };
  const result = await cruise(dirs, options);
  if (typeof result.output === 'string') throw new Error('dependency-cruiser returned text, not a result');
  return result.output.summary.violations;
}

describe('cli-imports-only-api-and-lib', () => {
  it('holds for cli/', async () => {
    const violations = await violationsIn(root, ['cli/src']);
    expect(violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  }, 60_000);

  const sandbox = mkdtempSync(path.join(tmpdir(), 'novapos-cli-architecture-'));
  afterAll(() => rmSync(sandbox, { recursive: true, force: true }));
  const write = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(sandbox, rel)), { recursive: true });
    writeFileSync(path.join(sandbox, rel), text);
  };
  write('operator/src/controllers/widget/desired.ts', 'export const rule = 1;\n');
  write('operator/src/api/meta.ts', 'export const GROUP = 1;\n');
  write(
    'cli/src/ok.ts',
    "import { GROUP } from '../../operator/src/api/meta.js';\nexport const g = GROUP;\n",
  );
  write(
    'cli/src/bad.ts',
    "import { rule } from '../../operator/src/controllers/widget/desired.js';\nexport const r = rule;\n",
  );

  it('catches a cli file importing a controller, and only that one', async () => {
    const violations = await violationsIn(sandbox, ['cli']);
    expect(violations.map((v) => [v.rule.name, v.from])).toEqual([
      ['cli-imports-only-api-and-lib', 'cli/src/bad.ts'],
    ]);
  }, 60_000);
});
