import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ruleAreas } from '../../alerts/src/index.js';
import { ruleFileYaml } from '../../alerts/src/render.js';
import { PROMETHEUS_RULE_FILE, repoRoot } from '../../scripts/render-monitoring.js';
import { promtool } from '../harness/promtool.js';

const alertsDir = path.join(repoRoot, 'alerts');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'novapos-promtool-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(ruleAreas.map((a) => a.area))('%s rules', (area) => {
  it('pass promtool check rules', async () => {
    const res = await promtool(['check', 'rules', `${area}.rules.yaml`], alertsDir);
    expect(res.ok, res.output).toBe(true);
    expect(res.output).toContain('SUCCESS');
  });

  it(`pass their promtool unit tests (alerts/tests/${area}.test.yaml)`, async () => {
    const res = await promtool(['test', 'rules', `tests/${area}.test.yaml`], alertsDir);
    expect(res.ok, res.output).toBe(true);
    expect(res.output).toContain('SUCCESS');
  });
});

describe('the promtool tests', () => {
  it('fail when an alert fires later than its for: says (they check both sides of the window)', async () => {
    const auth = ruleAreas.find((a) => a.area === 'auth')!;
    const slower = {
      ...auth,
      groups: auth.groups.map((g) => ({
        ...g,
        rules: g.rules.map((r) =>
          'alert' in r && r.alert === 'AuthFailedLoginSpike' ? { ...r, for: '2m' } : r,
        ),
      })),
    };
    const dir = path.join(scratch, 'mutant');
    mkdirSync(path.join(dir, 'tests'), { recursive: true });
    writeFileSync(path.join(dir, 'auth.rules.yaml'), ruleFileYaml(slower));
    copyFileSync(path.join(alertsDir, 'tests/auth.test.yaml'), path.join(dir, 'tests/auth.test.yaml'));
    const res = await promtool(['test', 'rules', 'tests/auth.test.yaml'], dir);
    expect(res.ok).toBe(false);
    expect(res.output).toContain('alertname: AuthFailedLoginSpike, time: 13m');
  });
});

describe('the PrometheusRule resource', () => {
  it('holds rule groups promtool accepts', async () => {
    const resource = parse(readFileSync(path.join(repoRoot, PROMETHEUS_RULE_FILE), 'utf8')) as {
      spec: { groups: unknown[] };
    };
    const file = path.join(scratch, 'from-prometheusrule.rules.yaml');
    writeFileSync(file, stringify({ groups: resource.spec.groups }));
    const res = await promtool(['check', 'rules', file]);
    expect(res.ok, res.output).toBe(true);
    const ruleCount = ruleAreas.reduce((n, a) => n + a.groups.reduce((m, g) => m + g.rules.length, 0), 0);
    expect(res.output).toContain(`SUCCESS: ${ruleCount} rules found`);
  });
});
