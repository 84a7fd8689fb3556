import type { AlertDelivery, SyntheticAlert } from '../../../adapters/drill/ports.js';
import { parseDuration } from '../../../api/validation.js';
import { prepared, type StepContext, type StepOutcome } from './context.js';
import { abortReason, pause, seconds } from './stats.js';

/** Waits until `find` returns a delivery, polling; undefined after `timeoutMs` or on abort. */
async function waitForDelivery(
  c: StepContext,
  timeoutMs: number,
  find: (ds: readonly AlertDelivery[]) => AlertDelivery | undefined,
): Promise<{ found?: AlertDelivery; seen: readonly AlertDelivery[] }> {
  const deadline = c.now().getTime() + timeoutMs;
  let seen: readonly AlertDelivery[] = [];
  for (;;) {
    seen = await c.adapters.alerts.deliveries(c.runId);
    const found = find(seen);
    if (found || c.signal.aborted || c.now().getTime() >= deadline) return { found, seen };
    await pause(Math.min(500, c.timing.pollMs), c.signal);
  }
}

/**
 * Alert delivery: a synthetic alert labelled with the drill's name and this run's id (the dedup key) goes
 * into Alertmanager; the receiver named in the spec (the drill webhook) must get it within the timeout,
 * and after the drill resolves it, the resolved notification must follow within the timeout too.
 */
export async function alertDeliveryStep(c: StepContext): Promise<StepOutcome> {
  const step = prepared(c.spec.steps.alertDelivery, 'spec.steps.alertDelivery');
  const timeoutMs = parseDuration(step.timeout);
  const figures: Record<string, number> = {};
  const alert: SyntheticAlert = {
    drillNamespace: c.namespace,
    drillName: c.drillName,
    runId: c.runId,
    endsAt: new Date(c.now().getTime() + 2 * timeoutMs + 60_000),
  };

  const firedAt = c.now().getTime();
  await c.adapters.alerts.fire(alert);
  const firing = await waitForDelivery(c, timeoutMs, (ds) =>
    ds.find((d) => d.status === 'firing' && d.receiver === step.receiver),
  );
  if (c.signal.aborted) return { passed: false, message: `stopped: ${abortReason(c.signal)}`, figures };
  if (!firing.found) {
    const refused = firing.seen.filter((d) => d.status === 'refused').length;
    if (refused > 0) {
      return {
        passed: false,
        message:
          `the synthetic alert (drill_run=${c.runId}) reached the drill webhook but was refused ${refused} time(s) ` +
          'for a missing or wrong bearer token: the token file of the Alertmanager drill receiver ' +
          '(credentials_file) must hold the token the operator reads (DRILL_WEBHOOK_TOKEN_FILE)',
        figures,
      };
    }
    const routed = await c.adapters.alerts.routedTo(c.runId).catch(() => [] as string[]);
    const elsewhere = [...new Set(firing.seen.filter((d) => d.status !== 'refused').map((d) => d.receiver))];
    return {
      passed: false,
      message:
        `the synthetic alert (drill_run=${c.runId}) did not reach receiver ${step.receiver} within ${step.timeout}` +
        (routed.length
          ? `; Alertmanager routed it to ${routed.join(', ')}`
          : '; Alertmanager did not list it (was it accepted?)') +
        (elsewhere.length ? `; the drill webhook got it from ${elsewhere.join(', ')} instead` : '') +
        ': check the drill route (matcher drill=~".+") and its receiver in the Alertmanager configuration',
      figures,
    };
  }
  figures['deliverySeconds'] = seconds(firing.found.receivedAt - firedAt);

  const resolvedAt = c.now().getTime();
  await c.adapters.alerts.resolve(alert);
  const resolved = await waitForDelivery(c, timeoutMs, (ds) =>
    ds.find((d) => d.status === 'resolved' && d.receiver === step.receiver && d.receivedAt >= resolvedAt),
  );
  if (c.signal.aborted) return { passed: false, message: `stopped: ${abortReason(c.signal)}`, figures };
  if (!resolved.found) {
    return {
      passed: false,
      message: `the synthetic alert reached ${step.receiver} in ${figures['deliverySeconds']}s, but its resolve did not follow within ${step.timeout}: check send_resolved on the receiver and the route's group_interval (it must be shorter than the timeout)`,
      figures,
    };
  }
  figures['resolveSeconds'] = seconds(resolved.found.receivedAt - resolvedAt);
  return {
    passed: true,
    message: `receiver ${step.receiver} got the synthetic alert in ${figures['deliverySeconds']}s and its resolve ${figures['resolveSeconds']}s after it was resolved`,
    figures,
  };
}
