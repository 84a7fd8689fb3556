import { KINDS } from '../../../operator/src/api/v1alpha1/index.js';
import { listObjects } from '../api.js';
import { resolveKind, shortNameOf } from '../resources.js';
import { type Io, Session } from '../session.js';
import type { CompletionSpec } from './completion.js';

/** Cobra's completion directives, as kubectl reads them from a plugin's completion helper. */
export const Directive = { default: 0, error: 1, noSpace: 2, noFileComp: 4 } as const;

/** Which kind each verb's first argument is. */
const VERB_KINDS: Record<string, string | undefined> = {
  rotate: 'skr',
  revoke: 'skr',
  plan: 'spromo',
  approve: 'spromo',
  rollback: 'spromo',
  'drill run': 'drdrill',
  'drill report': 'drdrill',
};

/** Flags that take a value (their value is the next word). */
const VALUE_FLAGS = new Set([
  '--kubeconfig',
  '--context',
  '-n',
  '--namespace',
  '--as',
  '--as-group',
  '-o',
  '--output',
  '--request-timeout',
  '--interval',
  '--prometheus',
  '--gateway',
  '--usage-sample',
  '--timeout',
  '--hash',
  '--run',
  '--operator-namespace',
  '--lease-name',
]);

interface Parsed {
  readonly positionals: string[];
  readonly flags: Record<string, string>;
}

function parse(words: readonly string[]): Parsed {
  const positionals: string[] = [];
  const flags: Record<string, string> = {};
  const queue = [...words];
  for (let w = queue.shift(); w !== undefined; w = queue.shift()) {
    if (w.startsWith('-')) {
      const eq = w.indexOf('=');
      if (eq > 0) flags[w.slice(0, eq)] = w.slice(eq + 1);
      else if (VALUE_FLAGS.has(w)) flags[w] = queue.shift() ?? '';
      else flags[w] = 'true';
    } else positionals.push(w);
  }
  return { positionals, flags };
}

/**
 * `kubectl-novapos __complete WORD… CURRENT`: what kubectl ≥ 1.26 asks a plugin's completion helper
 * (kubectl_complete-novapos) for `kubectl novapos …<TAB>`: one candidate a line (`value\tdescription`),
 * then `:DIRECTIVE`. Resource names and kids come from the apiserver with the words' own --context, -n,
 * --kubeconfig; an apiserver that cannot be reached gives no names, never an error.
 */
export async function complete(
  words: readonly string[],
  spec: CompletionSpec & { descriptions: Record<string, string> },
  io: Io,
): Promise<{ candidates: string[]; directive: number }> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const previous = before.at(-1);
  const { positionals, flags } = parse(before);
  // A candidate is `value\tdescription`: its value is matched.
  const candidateValue = (c: string) => (c.includes('\t') ? c.slice(0, c.indexOf('\t')) : c);
  const prefixed = (list: readonly string[]) => list.filter((c) => candidateValue(c).startsWith(current));
  const verb = positionals[0];
  const sub = verb === 'drill' ? positionals[1] : undefined;
  const args = positionals.slice(verb === 'drill' ? 2 : 1);
  const session = () =>
    new Session(
      {
        kubeconfig: flags['--kubeconfig'],
        context: flags['--context'],
        namespace: flags['-n'] ?? flags['--namespace'],
        as: flags['--as'],
        requestTimeout: '5s',
      },
      io,
    );
  const done = (candidates: string[], directive: number = Directive.noFileComp) => ({
    candidates: prefixed(candidates),
    directive,
  });

  // A flag's value.
  if (previous && VALUE_FLAGS.has(previous) && !previous.includes('=')) {
    if (previous === '-o' || previous === '--output') return done(['json', 'yaml']);
    if (previous === '--kubeconfig') return { candidates: [], directive: Directive.default };
    if (previous === '--context') return done(await safe(async () => session().client.contextNames()));
    if (previous === '-n' || previous === '--namespace' || previous === '--operator-namespace')
      return done(
        await safe(async () =>
          (
            await session().client.get<{ items: { metadata: { name: string } }[] }>('/api/v1/namespaces')
          ).items.map((n) => n.metadata.name),
        ),
      );
    return done([]);
  }
  if (current.startsWith('-')) {
    const own = spec.verbs.find((v) => v.name === verb)?.flags ?? [];
    return done([...own, ...spec.globalFlags]);
  }
  if (!verb) return done(spec.verbs.map((v) => `${v.name}\t${spec.descriptions[v.name] ?? ''}`));
  if (verb === 'drill' && !sub) return done(['run', 'report']);
  if (verb === 'completion') return done(args.length ? [] : ['bash', 'zsh']);
  const kindWord = VERB_KINDS[sub ? `drill ${sub}` : verb];
  if (args.length > (verb === 'revoke' ? 1 : 0)) return done([]);

  // revoke skr/NAME <KID>: the kids of that rotation, with their state.
  if (verb === 'revoke' && args.length === 1) {
    const name = args[0]?.split('/')[1];
    return done(
      await safe(async () => {
        const s = session();
        const skr = await s.client.get<{ status?: { keys?: { kid: string; state: string }[] } }>(
          `/apis/security.novapos.io/v1alpha1/namespaces/${encodeURIComponent(s.namespace)}/signingkeyrotations/${encodeURIComponent(name ?? '')}`,
        );
        return (skr.status?.keys ?? [])
          .filter((k) => k.state !== 'revoked')
          .map((k) => `${k.kid}\t${k.state}`);
      }),
    );
  }

  // KIND/NAME: the kinds first, then the names of that kind in the namespace.
  const slash = current.indexOf('/');
  if (slash < 0) {
    const kinds = kindWord ? [kindWord] : KINDS.map(shortNameOf);
    return done(
      kinds.map((k) => `${k}/`),
      Directive.noSpace | Directive.noFileComp,
    );
  }
  const kind = resolveKind(current.slice(0, slash));
  if (!kind) return done([]);
  const word = current.slice(0, slash);
  return done(
    await safe(async () =>
      (await listObjects(session(), kind, false)).map((o) => `${word}/${o.metadata.name}`),
    ),
  );
}

async function safe(f: () => Promise<string[]>): Promise<string[]> {
  try {
    return await f();
  } catch {
    return [];
  }
}
