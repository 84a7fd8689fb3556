import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { promtool } from '../harness/promtool.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

describe('promtool', () => {
  it('accepts the rule file', async () => {
    const result = await promtool(['check', 'rules', 'smoke.rules.yaml'], fixtures);
    expect(result.output).toContain('SUCCESS: 1 rules found');
    expect(result.ok).toBe(true);
  });

  it('passes a rule unit test that checks both sides of `for:`', async () => {
    const result = await promtool(['test', 'rules', 'smoke-pass.test.yaml'], fixtures);
    expect(result.output).toContain('SUCCESS');
    expect(result.ok).toBe(true);
  });

  it('fails a rule unit test whose expectation is wrong, saying what it expected and what it got', async () => {
    const result = await promtool(['test', 'rules', 'smoke-fail.test.yaml'], fixtures);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('FAILED');
    expect(result.output).toMatch(/exp:\[[\s\S]*severity="warning"[\s\S]*got:\[[\s\S]*severity="critical"/);
  });
});
