import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../../lib/log.js';
import type { DrillAdapters, RotationView, TrafficSample } from '../../../adapters/drill/ports.js';
import type { DisasterRecoveryDrillSpec } from '../../../api/v1alpha1/disasterrecoverydrill.js';
import { DEFAULT_RUNNER_TIMING, OwnTraffic, type StepContext } from './context.js';
import { keyRotationStep } from './key-rotation.js';

/**
 * What the step reports, with in-memory adapters (the step against the real components: test/drills/ and
 * test/cli/drill-pass.int.test.ts).
 */

const view = (activeKid: string, servicesLoaded: boolean): RotationView => ({
  activeKid,
  leadTime: '2s',
  jwksCacheTTL: '1s',
  servicesLoaded,
  generation: 1,
});

/** A context whose rotation activates k2 once rotate-now is called, and whose traffic answers `answer`. */
function context(answer: Pick<TrafficSample, 'status' | 'code'>): StepContext {
  let rotated = false;
  const adapters = {
    rotation: {
      get: async () => (rotated ? view('k2', true) : view('k1', true)),
      rotateNow: async () => {
        rotated = true;
      },
      shortenLeadTime: async () => {},
      restoreLeadTime: async () => false,
    },
    traffic: {
      run: async (r: { onSample: (s: TrafficSample) => void }) => {
        for (let i = 0; i < 20; i++) r.onSample({ ...answer, latencyMs: 1, at: Date.now() });
        await new Promise((resolve) => setTimeout(resolve, 50));
      },
    },
  } as unknown as DrillAdapters;
  const spec = {
    steps: {
      keyRotation: {
        signingKeyRotationRef: { name: 'auth' },
        syntheticRps: 10,
        duration: '10s',
        maxFailedRequests: 0,
      },
    },
  } as unknown as DisasterRecoveryDrillSpec;
  return {
    namespace: 'ns',
    drillName: 'd',
    runId: 'r1',
    spec,
    adapters,
    timing: { ...DEFAULT_RUNNER_TIMING, pollMs: 5, tokenRefreshMs: 5 },
    log: createLogger({ component: 'test', level: 'silent' }),
    now: () => new Date(),
    signal: new AbortController().signal,
    own: new OwnTraffic(),
    tenant: 'drill-x',
    session: {
      accessToken: () => 'token',
      refresh: async () => 'token',
    } as unknown as StepContext['session'],
  };
}

describe('keyRotationStep', () => {
  it('says what the gateway answered when every request failed otherwise, code included', async () => {
    // drill-pass's CI failure: every request was refused before verification (the client address had
    // spent its failure budget), and the step said only "lengthen steps.keyRotation.duration".
    const out = await keyRotationStep(context({ status: 429, code: 'too_many_auth_failures' }));
    expect(out.passed).toBe(false);
    expect(out.message).toBe(
      'no valid token was rejected, but 20 of 20 requests failed otherwise (429 too_many_auth_failures ×20)',
    );
    expect(out.figures).toMatchObject({ requests: 20, otherErrors: 20, newKeyRequests: 0 });
  });

  it('asks for a longer duration when the traffic went through but none of it carried the new key', async () => {
    const out = await keyRotationStep(context({ status: 200 }));
    expect(out.passed).toBe(false);
    expect(out.message).toMatch(
      /^the new key k2 became active, but no request with a token it signed went through before the load ended \(10s\): lengthen steps\.keyRotation\.duration$/,
    );
  });
});
