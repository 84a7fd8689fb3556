import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboards } from '../../dashboards/src/index.js';
import { panelQueries, substituteVariables } from '../../dashboards/src/queries.js';
import { writeTestProfileRules } from '../alerts/rule-files.js';
import { type SyntheticTargets, startSyntheticTargets } from '../alerts/synthetic-targets.js';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';

/**
 * Every panel query of every dashboard, run against a real Prometheus that scrapes stand-ins of the three
 * services (same metric names and labels) under smoke traffic and evaluates the project's recording rules:
 * each must return data, i.e. the dashboards and the metrics agree on names and labels.
 */
describe('dashboard queries on a real Prometheus', () => {
  let targets: SyntheticTargets;
  let env: Env;
  let traffic: NodeJS.Timeout;

  beforeAll(async () => {
    targets = await startSyntheticTargets();
    targets.smokeTraffic();
    traffic = setInterval(() => targets.smokeTraffic(), 500);
    env = await startEnv({
      label: 'dashboards',
      prometheus: {
        scrape: targets.scrape,
        ruleFiles: writeTestProfileRules('2s'),
        evaluationInterval: '1s',
      },
    });
  });

  afterAll(async () => {
    clearInterval(traffic);
    await env?.stop();
    await targets?.stop();
  });

  const queries = panelQueries(dashboards());

  it.each(queries.map((q) => [`${q.dashboard} / ${q.panel}: ${q.expr}`, q.expr] as const))(
    '%s returns data',
    async (_, expr) => {
      const concrete = substituteVariables(expr);
      const result = await waitUntil(
        `data for ${concrete}`,
        async () => {
          const r = await env.prometheus!.query(concrete);
          return r.length > 0 ? r : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(result.length).toBeGreaterThan(0);
    },
  );
});
