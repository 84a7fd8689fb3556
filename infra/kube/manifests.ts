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
  const transformations = skipAwait
    ? [
        (obj: { metadata?: { annotations?: Record<string, string> } }) => {
          obj.metadata = obj.metadata ?? {};
          obj.metadata.annotations = { ...obj.metadata.annotations, ...NO_WAIT_ANNOTATIONS };
        },
      ]
    : [];
  // A ConfigGroup (v1) creates its objects in parallel, in no order: an object created before its Namespace
  // fails with `namespaces "..." not found` once the provider's retries run out (seen on a loaded CI
  // machine). The Namespaces get a group of their own that the rest depends on. Children's URNs do not
  // include the group's name, so moving a Namespace between the two groups changes nothing in a stack.
  const isNamespace = (o: { kind?: unknown }) => o.kind === 'Namespace';
  const namespaces = objs.filter(isNamespace);
  const nsGroup =
    namespaces.length > 0 && namespaces.length < objs.length
      ? new k8s.yaml.ConfigGroup(`${name}-namespaces`, { objs: namespaces, transformations }, opts)
      : undefined;
  const group = new k8s.yaml.ConfigGroup(
    name,
    { objs: nsGroup ? objs.filter((o) => !isNamespace(o)) : objs, transformations },
    nsGroup ? { ...opts, dependsOn: [...dependsOnList(opts.dependsOn), nsGroup] } : opts,
  );
  const children = nsGroup
    ? pulumi.all([nsGroup.resources, group.resources]).apply(([a, b]) => ({ ...a, ...b }))
    : group.resources;
  const applied = children.apply((all) =>
    pulumi.all(Object.entries(all).map(([key, child]) => child.urn.apply(() => key))),
  );
  return { group, applied };
}

function dependsOnList(d: pulumi.ComponentResourceOptions['dependsOn']): pulumi.Input<pulumi.Resource>[] {
  if (d === undefined) return [];
  return Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];
}
