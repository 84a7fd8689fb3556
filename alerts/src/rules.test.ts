import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { monitoringFiles, repoRoot } from '../../scripts/render-monitoring.js';
import { ruleAreas } from './index.js';
import { alertsOf, isAlert, RUNBOOK_BASE_URL, runbookUrl } from './model.js';
import { promqlSyntaxErrors } from './promql.js';
import { durationSeconds, prometheusRule, testProfile } from './render.js';

const alerts = alertsOf(ruleAreas);
const alertNames = [...new Set(alerts.map((a) => a.alert))];
const allRules = ruleAreas.flatMap((a) => a.groups.flatMap((g) => g.rules));

describe('every alert', () => {
  it.each(alerts.map((a) => [`${a.alert} (${a.labels.severity})`, a] as const))(
    '%s has a severity, a team, a summary, a description and its runbook URL',
    (_, a) => {
      expect(['critical', 'warning', 'info']).toContain(a.labels.severity);
      expect(['security', 'sre']).toContain(a.labels.team);
      expect(a.annotations.summary.length).toBeGreaterThan(10);
      expect(a.annotations.description.length).toBeGreaterThan(20);
      expect(a.annotations.runbook_url).toBe(`${RUNBOOK_BASE_URL}${a.alert}.md`);
      expect(durationSeconds(a.for)).toBeGreaterThan(0);
    },
  );

  it.each(alertNames)('%s has a runbook page with the sections on-call needs', (name) => {
    const file = path.join(repoRoot, 'docs/runbooks', `${name}.md`);
    expect(existsSync(file), `${file} is missing`).toBe(true);
    const page = readFileSync(file, 'utf8');
    expect(page).toMatch(new RegExp(`^# ${name}\\b`, 'm'));
    for (const section of ['Meaning', 'Impact', 'Diagnosis', 'Mitigation', 'Escalation']) {
      expect(page, `${name}.md needs a "## ${section}" section`).toMatch(new RegExp(`^## ${section}`, 'm'));
    }
  });

  it('has no runbook page without an alert', () => {
    const pages = readdirSync(path.join(repoRoot, 'docs/runbooks'))
      .filter((f) => f.endsWith('.md') && f !== 'README.md')
      .map((f) => f.replace(/\.md$/, ''));
    expect(pages.sort()).toEqual([...alertNames].sort());
  });

  it('is unique by name and severity (one rule per severity of an alert)', () => {
    const keys = alerts.map((a) => `${a.alert}/${a.labels.severity}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('rule expressions', () => {
  it.each(allRules.map((r) => [isAlert(r) ? r.alert : r.record, r.expr] as const))(
    '%s parses as PromQL',
    (_, expr) => {
      expect(promqlSyntaxErrors(expr)).toEqual([]);
    },
  );

  it('count thresholds in the window, as the contracts say (increase, not rate, for the runbook thresholds)', () => {
    const byName = new Map(alerts.map((a) => [a.alert, a.expr]));
    expect(byName.get('AuthFailedLoginSpike')).toContain(
      'increase(auth_login_attempts_total{outcome="invalid_credentials"}[5m])) > 50',
    );
    expect(byName.get('AuthMfaInvalidSpike')).toContain(
      'increase(auth_mfa_events_total{outcome="mfa_invalid"}[5m])) > 10',
    );
    expect(byName.get('GatewayRateLimitRejections')).toContain(
      'increase(gateway_rate_limit_rejections_total[1m])) > 5',
    );
  });
});

describe('promtool tests', () => {
  const testFiles = ruleAreas.map((a) => ({
    area: a.area,
    doc: parse(readFileSync(path.join(repoRoot, 'alerts/tests', `${a.area}.test.yaml`), 'utf8')) as {
      rule_files: string[];
      tests: {
        alert_rule_test?: {
          eval_time: string;
          alertname: string;
          exp_alerts: { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }[];
        }[];
      }[];
    },
  }));

  it('one test file per rule area, testing that area', () => {
    for (const { area, doc } of testFiles) expect(doc.rule_files).toEqual([`../${area}.rules.yaml`]);
  });

  it.each(alerts.map((a) => [`${a.alert} (${a.labels.severity})`, a] as const))(
    '%s is tested on both sides of its for: window, with its runbook_url',
    (_, a) => {
      const area = ruleAreas.find((ar) => ar.groups.some((g) => g.rules.includes(a)))!.area;
      const cases = testFiles
        .find((t) => t.area === area)!
        .doc.tests.flatMap((t) => t.alert_rule_test ?? [])
        .filter((c) => c.alertname === a.alert);
      const firing = cases.filter((c) =>
        c.exp_alerts.some(
          (e) =>
            e.exp_labels.severity === a.labels.severity &&
            e.exp_annotations?.runbook_url === runbookUrl(a.alert),
        ),
      );
      expect(firing.length, 'a case where it fires, with its runbook_url').toBeGreaterThan(0);
      const notYet = cases.filter(
        (c) => !c.exp_alerts.some((e) => e.exp_labels.severity === a.labels.severity),
      );
      expect(notYet.length, 'a case where it does not fire yet').toBeGreaterThan(0);
    },
  );
});

describe('rendering', () => {
  it('the committed files match what the TypeScript renders (run `npm run generate:monitoring`)', () => {
    for (const [rel, content] of monitoringFiles()) {
      const file = path.join(repoRoot, rel);
      expect(existsSync(file), `${rel} is missing`).toBe(true);
      expect(readFileSync(file, 'utf8'), `${rel} drifted from its source`).toBe(content);
    }
  });

  it('the PrometheusRule carries exactly the groups of the rule files', () => {
    const resource = prometheusRule(ruleAreas) as {
      apiVersion: string;
      kind: string;
      spec: { groups: unknown[] };
    };
    expect(resource.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(resource.kind).toBe('PrometheusRule');
    expect(resource.spec.groups).toEqual(ruleAreas.flatMap((a) => a.groups));
  });

  it('the test profile shortens for: and drops group intervals, and changes nothing else', () => {
    for (const area of ruleAreas) {
      const quick = testProfile(area, '2s');
      quick.groups.forEach((g, i) => {
        const original = area.groups[i]!;
        expect(g.interval).toBeUndefined();
        g.rules.forEach((r, j) => {
          const o = original.rules[j]!;
          expect(r.expr).toBe(o.expr);
          if (isAlert(r) && isAlert(o)) {
            expect(r.labels).toEqual(o.labels);
            expect(r.annotations).toEqual(o.annotations);
            expect(durationSeconds(r.for)).toBe(Math.min(2, durationSeconds(o.for)));
          }
        });
      });
    }
  });

  it('reads Prometheus durations', () => {
    expect(durationSeconds('30s')).toBe(30);
    expect(durationSeconds('1h30m')).toBe(5400);
    expect(durationSeconds('3d')).toBe(259200);
    expect(durationSeconds('500ms')).toBe(0.5);
    expect(() => durationSeconds('5 minutes')).toThrow(/not a Prometheus duration/);
  });
});
