import { describe, expect, it } from 'vitest';
import { loadStackConfig, parseStackConfig, StackConfigError } from './config.js';
import { stackFile, stackFileConfig } from './testing/mock-stack.js';

/** The raw values of a stack file, keyed without the `novapos:` prefix, parsed as the loader would. */
function rawOf(stack: string): Record<string, unknown> {
  const values = stackFileConfig(stackFile(stack));
  return Object.fromEntries(
    Object.entries(values)
      .filter(([k]) => k.startsWith('novapos:'))
      .map(([k, v]) => {
        let parsed: unknown = v;
        try {
          parsed = JSON.parse(v);
        } catch {}
        return [k.slice('novapos:'.length), parsed];
      }),
  );
}

function problemsOf(raw: Record<string, unknown>): readonly string[] {
  try {
    parseStackConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as StackConfigError).problems;
  }
  throw new Error('expected the config to be rejected');
}

describe('the stack config loader', () => {
  it.each(['dev', 'staging', 'prod'])('accepts the committed Pulumi.%s.yaml', (stack) => {
    const cfg = parseStackConfig(rawOf(stack));
    expect(cfg.environment).toBe(stack);
  });

  it('reads values through pulumi.Config-like get(), JSON for structured ones and plain strings as they are', () => {
    const file = stackFileConfig(stackFile('prod'));
    const cfg = loadStackConfig({ get: (k) => file[`novapos:${k}`] }, Object.keys(rawOf('prod')));
    expect(cfg.prometheus).toEqual({
      replicas: 2,
      retention: '30d',
      scrapeInterval: '15s',
      storageSize: '100Gi',
    });
    expect(cfg.monitoringNamespace).toBe('novapos-monitoring');
  });

  it('names a missing required value with its full key', () => {
    const { prometheus: _, ...raw } = rawOf('dev');
    expect(problemsOf(raw)).toContain('novapos:prometheus: missing (required)');
  });

  it('names a missing nested value', () => {
    const raw = rawOf('dev');
    raw['prometheus'] = { replicas: 1, scrapeInterval: '30s' };
    expect(problemsOf(raw)).toContain('novapos:prometheus.retention: missing (required)');
  });

  it('rejects a wrong value and says what was expected and what it got', () => {
    const raw = rawOf('dev');
    raw['prometheus'] = { replicas: 1, retention: '2 days', scrapeInterval: '30s' };
    expect(problemsOf(raw)).toContainEqual(
      expect.stringMatching(/^novapos:prometheus\.retention: must be a duration like 15d \(got "2 days"\)$/),
    );
  });

  it('rejects an unknown environment', () => {
    const raw = { ...rawOf('dev'), environment: 'qa' };
    expect(problemsOf(raw)).toContain('novapos:environment: must be one of dev, staging, prod (got "qa")');
  });

  it('reports a misspelt key instead of ignoring it', () => {
    const raw = { ...rawOf('dev'), monitoringNamepsace: 'x' };
    expect(problemsOf(raw)).toContain('novapos:monitoringNamepsace: unknown key (a typo?)');
  });

  it('rejects a namespace that is not a DNS label and a replica count of 0', () => {
    const raw: Record<string, unknown> = { ...rawOf('staging'), monitoringNamespace: 'Monitoring_NS' };
    raw['alertmanager'] = { replicas: 0 };
    const problems = problemsOf(raw);
    expect(problems).toContainEqual(
      expect.stringMatching(/^novapos:monitoringNamespace: must be a DNS label/),
    );
    expect(problems).toContainEqual(expect.stringMatching(/^novapos:alertmanager\.replicas: /));
  });

  it('rejects a PagerDuty responder that is not an email and an empty escalation list', () => {
    const raw = rawOf('prod');
    const pd = structuredClone(raw['pagerduty']) as { teams: { security: Record<string, unknown> } };
    pd.teams.security['responders'] = ['alice'];
    pd.teams.security['escalation'] = [];
    raw['pagerduty'] = pd;
    const problems = problemsOf(raw);
    expect(problems).toContainEqual(
      expect.stringMatching(/^novapos:pagerduty\.teams\.security\.responders\.0: must be an email/),
    );
    expect(problems).toContainEqual(
      expect.stringMatching(/^novapos:pagerduty\.teams\.security\.escalation: /),
    );
  });

  it('refuses skipAwait in prod', () => {
    expect(problemsOf({ ...rawOf('prod'), skipAwait: true })).toEqual([
      'novapos:skipAwait: must be false in prod (pod readiness must be awaited)',
    ]);
  });

  it('lists every problem at once in one error message', () => {
    const { grafana: _, ...raw }: Record<string, unknown> = { ...rawOf('dev'), skipAwait: 'yes' };
    const err = (() => {
      try {
        parseStackConfig(raw);
      } catch (e) {
        return e as StackConfigError;
      }
    })();
    expect(err?.code).toBe('STACK_CONFIG_INVALID');
    expect(err?.message).toMatch(/novapos:grafana: missing/);
    expect(err?.message).toMatch(/novapos:skipAwait: /);
  });

  it('ignores secret keys (they are read only with requireSecret) and never reads them', () => {
    const read: string[] = [];
    const file = stackFileConfig(stackFile('dev'));
    loadStackConfig(
      {
        get: (k) => {
          read.push(k);
          return file[`novapos:${k}`];
        },
      },
      [...Object.keys(rawOf('dev')), 'slackSreWebhookUrl'],
    );
    expect(read).not.toContain('slackSreWebhookUrl');
  });

  it('keeps secrets out of the committed stack files (set with --secret, stored encrypted or not at all)', () => {
    for (const stack of ['dev', 'staging', 'prod']) {
      const text = JSON.stringify(stackFileConfig(stackFile(stack)));
      for (const key of [
        'slackSecurityWebhookUrl',
        'slackSreWebhookUrl',
        'grafanaAdminPassword',
        'drillWebhookToken',
        'pagerduty:token',
      ]) {
        expect(text, `${stack}: ${key}`).not.toContain(`${key}"`);
      }
    }
  });
});
