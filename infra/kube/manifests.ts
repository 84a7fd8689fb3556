import * as k8s from '@pulumi/kubernetes';
import type * as pulumi from '@pulumi/pulumi';
import type { ManifestFile } from '../sources.js';
import { SKIP_AWAIT } from './common.js';

/**
 * The project's own manifests: crds/*.yaml and the synthesized cdk8s charts (charts/dist/*.yaml), applied
 * as they are. One ConfigGroup per directory: its children are ordinary Kubernetes resources (one per
 * object, named `<kind>/<namespace>/<name>`), so a preview shows each change.
 */

export function applyManifests(
  name: string,
  files: readonly ManifestFile[],
  skipAwait: boolean,
  opts: pulumi.ComponentResourceOptions,
): k8s.yaml.ConfigGroup {
  const objs = files.flatMap((f) => f.objects.map((o) => structuredClone(o)));
  return new k8s.yaml.ConfigGroup(
    name,
    {
      objs,
      transformations: skipAwait
        ? [
            (obj: { metadata?: { annotations?: Record<string, string> } }) => {
              obj.metadata = obj.metadata ?? {};
              obj.metadata.annotations = { ...obj.metadata.annotations, [SKIP_AWAIT]: 'true' };
            },
          ]
        : [],
    },
    opts,
  );
}
