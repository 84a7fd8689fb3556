import { existsSync } from 'node:fs';
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { NEVER_WRITTEN, testApp } from './test-app.test-support.js';

describe('the construct tests’ App', () => {
  it('leaves no directory behind (cdk8s Testing.app() leaves a cdk8s.outdir.* per app)', () => {
    const chart = new Chart(testApp(), 'test');
    expect(Testing.synth(chart)).toEqual([]);
    expect(chart.node.root).toMatchObject({ outdir: NEVER_WRITTEN });
    expect(existsSync(NEVER_WRITTEN)).toBe(false);
  });
});
