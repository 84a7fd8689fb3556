import { GROUP, VERSION } from '../../operator/src/api/meta.js';
import type { KindDefinition } from '../../operator/src/api/schema.js';
import { CliError, ExitCode } from './errors.js';
import type { EventView } from './render/common.js';
import type { NovaposObject } from './render/list.js';
import { resourcePath } from './resources.js';
import type { Session } from './session.js';

/** One object; a missing one is one line that says which and where. */
export async function getObject<T extends NovaposObject>(
  session: Session,
  kind: KindDefinition,
  name: string,
): Promise<T> {
  try {
    return await session.client.get<T>(resourcePath(kind, session.namespace, name));
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.notFound)
      throw new CliError(
        `${kind.shortNames[0]}/${name} not found in namespace ${session.namespace}`,
        ExitCode.notFound,
        `list them with kubectl get ${kind.shortNames[0]} -n ${session.namespace}, or pass -n`,
      );
    throw err;
  }
}

export async function listObjects(
  session: Session,
  kind: KindDefinition,
  allNamespaces: boolean,
): Promise<NovaposObject[]> {
  let list: { items: NovaposObject[] };
  try {
    list = await session.client.get<{ items: NovaposObject[] }>(
      resourcePath(kind, allNamespaces ? undefined : session.namespace),
    );
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.notFound)
      throw new CliError(
        `${kind.plural}.${GROUP}/${VERSION} is not served by this cluster`,
        ExitCode.notFound,
        'install the CRDs (crds/); kubectl novapos check tells what is missing',
      );
    throw err;
  }
  // A list's items carry no apiVersion/kind.
  return list.items.map((o) => ({ ...o, kind: kind.kind }) as NovaposObject);
}

/** The object's Events; empty (not an error) when the user may not list Events. */
export async function eventsOf(session: Session, kind: string, name: string): Promise<EventView[]> {
  const selector = encodeURIComponent(`involvedObject.kind=${kind},involvedObject.name=${name}`);
  try {
    const list = await session.client.get<{ items: EventView[] }>(
      `/api/v1/namespaces/${encodeURIComponent(session.namespace)}/events?fieldSelector=${selector}`,
    );
    return list.items;
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.forbidden) return [];
    throw err;
  }
}

/** Merge-patches an object's metadata.annotations (`null` removes one). */
export function annotate<T>(
  session: Session,
  kind: KindDefinition,
  name: string,
  annotations: Record<string, string | null>,
): Promise<T> {
  return session.client.mergePatch<T>(resourcePath(kind, session.namespace, name), {
    metadata: { annotations },
  });
}
