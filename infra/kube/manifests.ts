import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ManifestFile } from '../sources.js';
import { NO_WAIT_ANNOTATIONS } from './common.js';

/**
 * The project's own manifests: crds/*.yaml and the synthesized cdk8s charts (charts/dist/*.yaml), applied
 * as they are. One ConfigGroup per directory: its children are ordinary Kubernetes resources (one per
 * object, named `<kind>/<namespace>/<name>`), so a preview shows each change.
 */

export interface AppliedManifests {
  readonly group: k8s.yaml.ConfigGroup;
  /**
   * `apiVersion/Kind:namespace/name` of every object, resolved once each is registered: a stack output, so
   * the run (and the runtime mocks) only end after the ConfigGroup's children are registered.
   */
  readonly applied: pulumi.Output<string[]>;
}

export function applyManifests(
  name: string,
  files: readonly ManifestFile[],
  skipAwait: boolean,
  opts: pulumi.ComponentResourceOptions,
): AppliedManifests {
  const objs = files.flatMap((f) => f.objects.map((o) => structuredClone(o)));
  const group = new k8s.yaml.ConfigGroup(
    name,
    {
      objs,
      transformations: skipAwait
        ? [
            (obj: { metadata?: { annotations?: Record<string, string> } }) => {
              obj.metadata = obj.metadata ?? {};
              obj.metadata.annotations = { ...obj.metadata.annotations, ...NO_WAIT_ANNOTATIONS };
            },
          ]
        : [],
    },
    opts,
  );
  const applied = group.resources.apply((children) =>
    pulumi.all(Object.entries(children).map(([key, child]) => child.urn.apply(() => key))),
  );
  return { group, applied };
}
