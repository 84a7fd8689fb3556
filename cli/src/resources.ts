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

/** The word the plugin writes for a kind: its first short name (`skr`), its plural if it had none. */
export function shortNameOf(kind: KindDefinition): string {
  return kind.shortNames[0] ?? kind.plural;
}

const kindWords = () => KINDS.map(shortNameOf).join(', ');

/** `skr/auth` → the SigningKeyRotation named auth; refuses another kind than `expected` says. */
export function parseRef(ref: string, expected?: readonly KindName[]): ObjectRef {
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1) {
    const example = expected?.[0];
    throw new CliError(
      `"${ref}" is not KIND/NAME`,
      ExitCode.usage,
      `write it like ${example ? shortName(example) : 'skr'}/NAME`,
    );
  }
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
  const definition = KINDS.find((k) => k.kind === kind);
  if (!definition) throw new Error(`${kind} is not one of the API's kinds`);
  return shortNameOf(definition);
}

/** The REST path of a kind's collection (namespace undefined: every namespace) or one object. */
export function resourcePath(kind: KindDefinition, namespace: string | undefined, name?: string): string {
  const base = `/apis/${GROUP}/${VERSION}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${kind.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}
