import { Command, CommanderError } from 'commander';
import { KINDS } from '../../operator/src/api/v1alpha1/index.js';
import { ExitCode, errorLine, exitCodeOf } from './errors.js';
import { shortNameOf } from './resources.js';
import { type GlobalOptions, type Io, Session } from './session.js';
import { DEFAULT_GATEWAY_SERVICE } from './usage.js';
import { approve } from './verbs/approve.js';
import { check } from './verbs/check.js';
import { complete } from './verbs/complete.js';
import { type CompletionSpec, completionScript } from './verbs/completion.js';
import { drillReport, drillRun } from './verbs/drill.js';
import { plan } from './verbs/plan.js';
import { revoke } from './verbs/revoke.js';
import { rollback } from './verbs/rollback.js';
import { rotate } from './verbs/rotate.js';
import { status } from './verbs/status.js';

declare const __NOVAPOS_CLI_VERSION__: string | undefined;
const VERSION = typeof __NOVAPOS_CLI_VERSION__ === 'string' ? __NOVAPOS_CLI_VERSION__ : 'dev';

const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

/** The command tree. Verbs get a Session built from the global flags; I/O goes through `io`. */
export function buildProgram(io: Io): Command {
  const program = new Command('kubectl novapos');
  program
    .description(
      'The NovaPOS on-call plugin: status of signing-key rotations, secret promotions, tenant rate limits and DR drills, and the verbs that set their annotations safely.',
    )
    .version(VERSION, '--version')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context to use')
    .option('-n, --namespace <ns>', "namespace (default: the context's)")
    .option('-A, --all-namespaces', 'every namespace (status lists)')
    .option('--as <user>', 'impersonate this user, as kubectl --as')
    .option(
      '--as-group <group>',
      'impersonate this group (repeatable)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('-o, --output <format>', 'print the object(s) as json or yaml instead of the screen')
    .option('--no-color', 'no colour even on a terminal (NO_COLOR works too)')
    .option('--request-timeout <duration>', 'timeout of each apiserver request, e.g. 30s')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride()
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `${examples(
        'kubectl novapos status',
        'kubectl novapos status skr/auth -n novapos',
        'kubectl novapos rotate skr/auth --wait',
        'kubectl novapos approve spromo/auth-to-staging',
        'kubectl novapos check',
      )}\nExit codes: 0 ok, 1 error, 2 usage, 3 refused, 4 forbidden, 5 not found, 6 timed out, 7 drill failed.\n`,
    );

  const session = (cmd: Command) => new Session(cmd.optsWithGlobals<GlobalOptions>(), io);

  program
    .command('status')
    .description(
      'One screen per resource: keys and timeline, plan diff, limits, drill report; or an overview',
    )
    .argument('[kind/name]', 'skr/NAME, spromo/NAME, trl/NAME, drdrill/NAME, or a kind alone')
    .argument('[name]', 'the name, when the kind is given alone')
    .option('-w, --watch', 'redraw as it changes (Ctrl-C stops)')
    .option('--interval <duration>', 'how often --watch reads', '2s')
    .option(
      '--prometheus <url>',
      "Prometheus with the gateway's metrics, for a TenantRateLimit's live usage (or NOVAPOS_PROMETHEUS_URL)",
    )
    .option(
      '--gateway <namespace/service>',
      `without Prometheus: the gateway Service whose replicas' /metrics (port admin) are read through the apiserver for live usage (or NOVAPOS_GATEWAY_SERVICE; default ${DEFAULT_GATEWAY_SERVICE})`,
    )
    .option('--usage-sample <duration>', "how far apart the two reads of the gateway's counters are", '3s')
    .addHelpText(
      'after',
      examples(
        'kubectl novapos status                     # every resource in the namespace',
        'kubectl novapos status -A skr              # every SigningKeyRotation',
        'kubectl novapos status skr/auth --watch    # keys, services, timeline, redrawn',
        'kubectl novapos status spromo/auth-to-staging -o yaml',
        'kubectl novapos status trl/acme            # live usage from the gateway replicas, through the apiserver',
        'kubectl novapos status trl/acme --prometheus http://localhost:9090   # live usage from Prometheus',
      ),
    )
    .action((target, name, opts, cmd) => status(session(cmd), target, name, opts));

  program
    .command('rotate')
    .description(
      'Start a rotation now (the rotate-now annotation); --emergency skips the lead time for this one rotation',
    )
    .argument('<skr/name>', 'the SigningKeyRotation')
    .option('--emergency', 'the new key signs at once, without lead time (this rotation only)')
    .option('--wait', 'wait until the lead time starts (or, with --emergency, the new key signs)')
    .option('--timeout <duration>', 'how long --wait waits', '5m')
    .addHelpText(
      'after',
      examples(
        'kubectl novapos rotate skr/auth --wait',
        'kubectl novapos rotate skr/auth --emergency --wait   # key compromised: new key signs now',
      ),
    )
    .action((ref, opts, cmd) => rotate(session(cmd), ref, opts));

  program
    .command('revoke')
    .description('Revoke one key at once (the revoke-kid annotation): it leaves the JWKS')
    .argument('<skr/name>', 'the SigningKeyRotation')
    .argument('<kid>', 'the key to revoke (see status)')
    .option('--emergency', 'allow revoking the active key (a new key signs at once)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--wait', 'wait until the key is out of the JWKS')
    .option('--timeout <duration>', 'how long --wait waits', '2m')
    .addHelpText(
      'after',
      examples(
        'kubectl novapos revoke skr/auth 2026-11-01-ab12 --wait',
        'kubectl novapos revoke skr/auth 2026-12-01-cd34 --emergency --yes --wait   # the active key',
      ),
    )
    .action((ref, kid, opts, cmd) => revoke(session(cmd), ref, kid, opts));

  program
    .command('plan')
    .description("Show a SecretPromotion's current plan: per target, each key's action and fingerprints")
    .argument('<spromo/name>', 'the SecretPromotion')
    .addHelpText(
      'after',
      examples(
        'kubectl novapos plan spromo/auth-to-staging',
        'kubectl novapos plan spromo/auth-to-staging -o json',
      ),
    )
    .action((ref, _opts, cmd) => plan(session(cmd), ref));

  program
    .command('approve')
    .description('Approve the current plan (hash read from status; admission records you as the approver)')
    .argument('<spromo/name>', 'the SecretPromotion')
    .option('--hash <hash>', 'refuse unless this is still the current plan (the hash you reviewed)')
    .addHelpText(
      'after',
      examples(
        'kubectl novapos approve spromo/auth-to-staging',
        'kubectl novapos approve spromo/auth-to-staging --hash 3f2a…   # only if the plan did not change',
      ),
    )
    .action((ref, opts, cmd) => approve(session(cmd), ref, opts));

  program
    .command('rollback')
    .description('Restore the targets to their versions before the last promotion (the rollback annotation)')
    .argument('<spromo/name>', 'the SecretPromotion')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--wait', 'wait until the rollback plan is ready to approve (or applied, without approval)')
    .option('--timeout <duration>', 'how long --wait waits', '2m')
    .addHelpText('after', examples('kubectl novapos rollback spromo/auth-to-staging --yes --wait'))
    .action((ref, opts, cmd) => rollback(session(cmd), ref, opts));

  const drill = program
    .command('drill')
    .description('Run a disaster-recovery drill now, or show its last report')
    .addHelpText(
      'after',
      examples(
        'kubectl novapos drill run drdrill/quarterly --wait',
        'kubectl novapos drill report drdrill/quarterly',
      ),
    );
  drill
    .command('run')
    .description('Start a run now (the run-now annotation); --wait shows each step live')
    .argument('<drdrill/name>', 'the DisasterRecoveryDrill')
    .option('--wait', 'wait until the run finishes; exit 7 if it failed')
    .option('--timeout <duration>', 'how long --wait waits', '15m')
    .addHelpText('after', examples('kubectl novapos drill run drdrill/quarterly --wait'))
    .action((ref, opts, cmd) => drillRun(session(cmd), ref, opts));
  drill
    .command('report')
    .description("A run's report step by step (default: the latest run)")
    .argument('<drdrill/name>', 'the DisasterRecoveryDrill')
    .option('--run <id>', 'a run id from status')
    .addHelpText(
      'after',
      examples(
        'kubectl novapos drill report drdrill/quarterly',
        'kubectl novapos drill report drdrill/quarterly -o json',
      ),
    )
    .action((ref, opts, cmd) => drillReport(session(cmd), ref, opts));

  program
    .command('check')
    .description('CRDs installed at this version, operator leading, admission policies active, your RBAC')
    .option('--operator-namespace <ns>', "the operator's namespace (its leader lease)", 'novapos-system')
    .option('--lease-name <name>', "the operator's leader-election lease", 'novapos-operator')
    .addHelpText('after', examples('kubectl novapos check', 'kubectl novapos check --as alice -n promotions'))
    .action((opts, cmd) => check(session(cmd), opts));

  program
    .command('completion')
    .description('Print a shell completion script')
    .argument('<shell>', 'bash or zsh')
    .addHelpText(
      'after',
      examples(
        'source <(kubectl-novapos completion bash)',
        'kubectl-novapos completion zsh > ~/.zsh/completions/_kubectl-novapos',
      ),
    )
    .action((shell) => {
      io.stdout.write(completionScript(shell));
    });

  return program;
}

/** The verbs and flags of the program, for the completion scripts. */
export function completionSpec(program: Command): CompletionSpec {
  const flags = (c: Command) => c.options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
  return {
    globalFlags: [...flags(program), '--help'],
    verbs: program.commands.map((c) => ({
      name: c.name(),
      flags: flags(c),
      subverbs: c.commands.map((s) => s.name()),
    })),
    kinds: KINDS.map(shortNameOf),
  };
}

/** Runs one command line; resolves the exit code. Errors are one line on stderr, never a stack. */
/** A kid is an RFC 7638 thumbprint: 43 letters of base64url, and "-" is one of them. */
const THUMBPRINT = /^-[A-Za-z0-9_-]{42}$/;

/**
 * One kid in 64 starts with "-", and the option parser would take it for an unknown option (or "-n…" for the
 * namespace). revoke's kid is its last operand, so such a word goes after a "--", where only operands are.
 */
export function kidsAsOperands(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  const head = end < 0 ? [...argv] : argv.slice(0, end);
  const tail = end < 0 ? [] : argv.slice(end + 1);
  if (!head.includes('revoke')) return [...argv];
  const kids = head.filter((w) => THUMBPRINT.test(w));
  if (kids.length === 0) return [...argv];
  return [...head.filter((w) => !THUMBPRINT.test(w)), '--', ...kids, ...tail];
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  if (argv[0] === '__complete') {
    // kubectl_complete-novapos: kubectl ≥ 1.26 completing `kubectl novapos …` (cobra's protocol).
    const spec = completionSpec(program);
    const descriptions = Object.fromEntries(program.commands.map((c) => [c.name(), c.description()]));
    const words = argv.length > 1 ? argv.slice(1) : [''];
    const { candidates, directive } = await complete(words, { ...spec, descriptions }, io);
    io.stdout.write(`${[...candidates, `:${directive}`].join('\n')}\n`);
    return ExitCode.ok;
  }
  try {
    await program.parseAsync(kidsAsOperands(argv), { from: 'user' });
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its own one-line message (or the help / version).
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    io.stderr.write(`${errorLine(err)}\n`);
    if (io.env.NOVAPOS_DEBUG) io.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    return exitCodeOf(err);
  }
}
