import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type IViolation } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';

// The boundaries of docs/architecture (architecture.json at the root) are enforced here, in `npm test`:
// a violation fails with the rule's name and the reason it exists.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = JSON.parse(readFileSync(path.join(root, 'architecture.json'), 'utf8'));
const reasons = new Map<string, string>(
  config.forbidden.map((r: { name: string; comment: string }) => [r.name, r.comment]),
);

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

function explain(violations: IViolation[]): string {
  return violations
    .map((v) => `${v.rule.name}: ${v.from} -> ${v.to}\n  why: ${reasons.get(v.rule.name)}`)
    .join('\n');
}

describe('the architecture (architecture.json)', () => {
  it('holds for the whole product: operator, services, lib, the plugin, charts and infra', async () => {
    const present = ['operator', 'services', 'lib', 'cli', 'charts', 'infra'];
    const violations = await violationsIn(root, present);
    expect(violations, explain(violations)).toEqual([]);
  }, 60_000);

  describe('catches a deliberate violation of each kind', () => {
    const sandbox = mkdtempSync(path.join(tmpdir(), 'novapos-architecture-'));
    afterAll(() => rmSync(sandbox, { recursive: true, force: true }));
    const write = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(sandbox, rel)), { recursive: true });
      writeFileSync(path.join(sandbox, rel), text);
    };
    write('operator/src/controllers/widget/desired.ts', 'export const rule = 1;\n');
    write(
      'operator/src/controllers/gadget/desired.ts',
      "import { rule } from '../widget/desired.js';\nexport const y = rule;\n",
    );
    write(
      'operator/src/adapters/redis/thing.ts',
      "import { rule } from '../../controllers/widget/desired.js';\nexport const x = rule;\n",
    );
    write(
      'operator/src/api/v1alpha1/widget.ts',
      "import { x } from '../../adapters/redis/thing.js';\nexport const w = x;\n",
    );
    write(
      'operator/src/runtime/queue.ts',
      "import { w } from '../api/v1alpha1/widget.js';\nexport const q = w;\n",
    );
    write(
      'services/auth-service/src/app.ts',
      "import { q } from '../../../operator/src/runtime/queue.js';\nexport const a = q;\n",
    );
    write(
      'services/integration-gateway/src/app.ts',
      "import { a } from '../../auth-service/src/app.js';\nexport const g = a;\n",
    );
    write(
      'lib/contract.ts',
      "import { g } from '../services/integration-gateway/src/app.js';\nexport const c = g;\n",
    );
    write('services/auth-service/src/storage/repo.ts', 'export class AuthRepository {}\n');
    write(
      'services/auth-service/src/domain/use-cases/sign-in.ts',
      "import { AuthRepository } from '../../storage/repo.js';\nexport const s = new AuthRepository();\n",
    );
    write('services/auth-service/src/routes/auth.ts', 'export const router = 1;\n');
    write(
      'services/auth-service/src/domain/ports.ts',
      "import { router } from '../routes/auth.js';\nexport const p = router;\n",
    );
    write(
      'cli/src/verbs/peek.ts',
      "import { rule } from '../../../operator/src/controllers/widget/desired.js';\nexport const p = rule;\n",
    );

    it.each([
      ['adapters-do-not-import-controllers', 'operator/src/adapters/redis/thing.ts'],
      ['controllers-are-independent', 'operator/src/controllers/gadget/desired.ts'],
      ['api-types-import-nothing', 'operator/src/api/v1alpha1/widget.ts'],
      ['runtime-knows-no-kind', 'operator/src/runtime/queue.ts'],
      ['services-never-import-the-operator', 'services/auth-service/src/app.ts'],
      ['services-do-not-import-each-other', 'services/integration-gateway/src/app.ts'],
      ['lib-is-a-leaf', 'lib/contract.ts'],
      ['cli-imports-only-api-and-lib', 'cli/src/verbs/peek.ts'],
      ['auth-domain-imports-no-adapters', 'services/auth-service/src/domain/use-cases/sign-in.ts'],
      ['auth-domain-imports-no-adapters', 'services/auth-service/src/domain/ports.ts'],
    ])(
      '%s, in %s, with its reason',
      async (rule, from) => {
        const violations = await violationsIn(sandbox, ['operator', 'services', 'lib', 'cli']);
        const hit = violations.find((v) => v.rule.name === rule && v.from === from);
        expect(hit?.from, explain(violations)).toBe(from);
        expect(reasons.get(rule)?.length ?? 0).toBeGreaterThan(40);
      },
      60_000,
    );
  });
});
