import { App, Chart, Testing } from 'cdk8s';
import type { Construct } from 'constructs';

/**
 * An App for the construct tests, which read manifests with `Testing.synth(chart)` (chart.toJson()) and
 * never write them. cdk8s's `Testing.app()` makes a `cdk8s.outdir.*` directory under the system temp dir
 * for each app and never removes it; this App names an output directory it never creates (its `synth()`,
 * which no test calls, would write there).
 */
export function testApp(): App {
  return new App({ outdir: NEVER_WRITTEN });
}

export const NEVER_WRITTEN = '/nonexistent/cdk8s-test-outdir';

/** A synthesized manifest: untyped JSON, which the tests read field by field. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Manifest = any;

/** The manifests of one construct, made with `props` alone in a chart of a test App. */
export function synthConstruct<P>(
  Kind: new (scope: Construct, id: string, props: P) => Construct,
  id: string,
  props: P,
): Manifest[] {
  const chart = new Chart(testApp(), 'test');
  new Kind(chart, id, props);
  return Testing.synth(chart);
}
