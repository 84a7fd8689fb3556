import { GROUP, VERSION } from '../../operator/src/api/meta.js';
import type { KindDefinition } from '../../operator/src/api/schema.js';
import { KINDS } from '../../operator/src/api/v1alpha1/index.js';
import { CliError, ExitCode } from './errors.js';

export type KindName = 'SigningKeyRotation' | 'TenantRateLimit' | 'SecretPromotion' | 'DisasterRecoveryDrill';

/** A kind as a user may type it: short name, singular, plural or Kind, optionally with `.group`. */
export function resolveKind(word: string): KindDefinition | undefined {
  const w = word.toLowerCase().replace(new RegExp(`\\.${GROUP.replaceAll('.', '\\.')}$`), '');
  return KINDS.find(
    (k) => k.kind.toLowerCase() === w || k.plural === w || k.singular === w || k.shortNames.includes(w),
  );
}

export interface ObjectRef {
  readonly kind: KindDefinition;
  readonly name: string;
}

const kindWords = () => KINDS.map((k) => k.shortNames[0]).join(', ');

/** `skr/auth` → the SigningKeyRotation named auth; refuses another kind than `expected` says. */
export function parseRef(ref: string, expected?: readonly KindName[]): ObjectRef {
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1)
    throw new CliError(
      `"${ref}" is not KIND/NAME`,
      ExitCode.usage,
      `write it like ${expected?.length ? `${shortName(expected[0]!)}/NAME` : 'skr/NAME'}`,
    );
  const kind = resolveKind(ref.slice(0, slash));
  if (!kind)
    throw new CliError(`unknown kind "${ref.slice(0, slash)}"`, ExitCode.usage, `use one of ${kindWords()}`);
  if (expected && !expected.includes(kind.kind as KindName))
    throw new CliError(
      `this verb works on ${expected.join(' or ')}, not ${kind.kind}`,
      ExitCode.usage,
      `write ${expected.map((k) => `${shortName(k)}/NAME`).join(' or ')}`,
    );
  return { kind, name: ref.slice(slash + 1) };
}

export function shortName(kind: KindName): string {
  return KINDS.find((k) => k.kind === kind)!.shortNames[0]!;
}

/** The REST path of a kind's collection (namespace undefined: every namespace) or one object. */
export function resourcePath(kind: KindDefinition, namespace: string | undefined, name?: string): string {
  const base = `/apis/${GROUP}/${VERSION}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${kind.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}
