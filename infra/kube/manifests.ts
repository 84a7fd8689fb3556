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

/** An object of a manifest file, as far as ordering looks at it. */
type ManifestObject = ManifestFile['objects'][number];

export function applyManifests(
  name: string,
  files: readonly ManifestFile[],
  skipAwait: boolean,
  opts: pulumi.ComponentResourceOptions,
  /**
   * Objects applied after the rest, step by step: each step once the one before it is applied and, with await
   * on, ready (a Deployment Available, a Job complete). An object goes to the first step that takes it.
   */
  after: readonly ((o: ManifestObject) => boolean)[] = [],
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
  // Each step depends on the one before it (the main group on the Namespaces).
  const dependingOn = (prev: k8s.yaml.ConfigGroup | undefined): pulumi.ComponentResourceOptions =>
    prev ? { ...opts, dependsOn: [...dependsOnList(opts.dependsOn), prev] } : opts;
  const rest = nsGroup ? objs.filter((o) => !isNamespace(o)) : objs;
  const stepOf = (o: ManifestObject) => after.findIndex((takes) => takes(o));
  const group = new k8s.yaml.ConfigGroup(
    name,
    { objs: rest.filter((o) => stepOf(o) < 0), transformations },
    dependingOn(nsGroup),
  );
  const steps: k8s.yaml.ConfigGroup[] = [];
  let previous = group;
  after.forEach((_, i) => {
    const these = rest.filter((o) => stepOf(o) === i);
    if (these.length === 0) return;
    previous = new k8s.yaml.ConfigGroup(
      `${name}-after-${i + 1}`,
      { objs: these, transformations },
      dependingOn(previous),
    );
    steps.push(previous);
  });
  const children = pulumi
    .all([nsGroup?.resources ?? {}, group.resources, ...steps.map((step) => step.resources)])
    .apply((all) => Object.assign({}, ...all) as Record<string, pulumi.CustomResource>);
  const applied = children.apply((all) =>
    pulumi.all(Object.entries(all).map(([key, child]) => child.urn.apply(() => key))),
  );
  return { group, applied };
}

function dependsOnList(d: pulumi.ComponentResourceOptions['dependsOn']): pulumi.Input<pulumi.Resource>[] {
  if (d === undefined) return [];
  return Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];
}
