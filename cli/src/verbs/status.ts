import type { KindDefinition } from '../../../operator/src/api/schema.js';
import type { DisasterRecoveryDrill } from '../../../operator/src/api/v1alpha1/disasterrecoverydrill.js';
import { KINDS } from '../../../operator/src/api/v1alpha1/index.js';
import type { SecretPromotion } from '../../../operator/src/api/v1alpha1/secretpromotion.js';
import type { SigningKeyRotation } from '../../../operator/src/api/v1alpha1/signingkeyrotation.js';
import type { TenantRateLimit } from '../../../operator/src/api/v1alpha1/tenantratelimit.js';
import { eventsOf, getObject, listObjects } from '../api.js';
import { CliError, ExitCode } from '../errors.js';
import { formatData } from '../output.js';
import type { EventView } from '../render/common.js';
import { renderDrill } from '../render/drill.js';
import { type NovaposObject, renderOverview } from '../render/list.js';
import { renderSecretPromotion } from '../render/secret-promotion.js';
import { renderSigningKeyRotation } from '../render/signing-key-rotation.js';
import { renderTenantRateLimit } from '../render/tenant-rate-limit.js';
import { resolveKind, shortNameOf } from '../resources.js';
import { parseDurationFlag, type Session } from '../session.js';
import type { Style } from '../style.js';
import { DEFAULT_GATEWAY_SERVICE, fetchUsage, GatewayUsage, type TenantUsage } from '../usage.js';

export interface StatusOptions {
  readonly watch?: boolean;
  readonly interval?: string;
  /** Prometheus base URL for a TenantRateLimit's live usage. */
  readonly prometheus?: string;
  /** NAMESPACE/SERVICE of the gateway whose replicas' /metrics (port admin) give live usage. */
  readonly gateway?: string;
  /** How far apart the two reads of the gateway's counters are. */
  readonly usageSample?: string;
}

/** The one-screen view of one object, by kind. */
export function renderObject(
  obj: NovaposObject,
  events: readonly EventView[],
  now: Date,
  s: Style,
  usage?: TenantUsage,
): string {
  switch (obj.kind) {
    case 'SigningKeyRotation':
      return renderSigningKeyRotation(obj as SigningKeyRotation, events, now, s);
    case 'SecretPromotion':
      return renderSecretPromotion(obj as SecretPromotion, events, now, s);
    case 'TenantRateLimit':
      return renderTenantRateLimit(obj as TenantRateLimit, events, now, s, usage);
    case 'DisasterRecoveryDrill':
      return renderDrill(obj as DisasterRecoveryDrill, events, now, s);
  }
}

/** `status`, `status KIND`, `status KIND/NAME` (also `status KIND NAME`, as kubectl get takes it). */
export function parseStatusTarget(
  target: string | undefined,
  name: string | undefined,
): {
  kinds: readonly KindDefinition[];
  name?: string;
} {
  if (!target) return { kinds: KINDS };
  const [word = target, slashName] = target.split('/', 2);
  const kind = resolveKind(word);
  if (!kind)
    throw new CliError(
      `unknown kind "${word}"`,
      ExitCode.usage,
      `use one of ${KINDS.map(shortNameOf).join(', ')}`,
    );
  const n = slashName || name;
  return n ? { kinds: [kind], name: n } : { kinds: [kind] };
}

async function frame(
  session: Session,
  kinds: readonly KindDefinition[],
  name: string | undefined,
  all: boolean,
  prometheus: string | undefined,
  gateway: GatewayUsage,
) {
  if (name) {
    // targetOf gives a name with exactly the one kind it belongs to.
    const [kind] = kinds;
    if (!kind) throw new Error(`status of ${name}: no kind to look it up in`);
    const obj = await getObject(session, kind, name);
    const events = session.output ? [] : await eventsOf(session, kind.kind, name);
    const usage =
      obj.kind !== 'TenantRateLimit' || session.output
        ? undefined
        : prometheus
          ? await fetchUsage(prometheus, obj.spec.tenant)
          : await gateway.usage(obj.spec.tenant);
    return { data: obj, text: () => renderObject(obj, events, session.io.now(), session.style, usage) };
  }
  const objects = (await Promise.all(kinds.map((k) => listObjects(session, k, all)))).flat();
  return {
    data: { apiVersion: 'v1', kind: 'List', items: objects },
    text: () => renderOverview(objects, all, session.io.now(), session.style),
  };
}

export async function status(
  session: Session,
  target: string | undefined,
  name: string | undefined,
  opts: StatusOptions,
): Promise<void> {
  const { kinds, name: objName } = parseStatusTarget(target, name);
  const all = !!session.opts.allNamespaces && !objName;
  const prometheus = opts.prometheus || session.io.env.NOVAPOS_PROMETHEUS_URL;
  const gateway = new GatewayUsage(
    session,
    opts.gateway || session.io.env.NOVAPOS_GATEWAY_SERVICE || DEFAULT_GATEWAY_SERVICE,
    parseDurationFlag(opts.usageSample ?? '3s', '--usage-sample'),
  );
  if (!opts.watch) {
    const f = await frame(session, kinds, objName, all, prometheus, gateway);
    session.emit(f.data, f.text);
    return;
  }
  const interval = parseDurationFlag(opts.interval ?? '2s', '--interval');
  const tty = !!session.io.stdout.isTTY;
  let last = '';
  for (;;) {
    const f = await frame(session, kinds, objName, all, prometheus, gateway);
    const text = session.output ? formatData(f.data, session.output) : f.text();
    if (tty) {
      // Redraw in place: cursor home, clear the screen, the new frame.
      session.print(`\x1b[H\x1b[2J${text}`);
    } else if (text !== last) {
      session.print(`${last ? '---\n' : ''}${text}`);
    }
    last = text;
    await session.io.sleep(interval);
  }
}
