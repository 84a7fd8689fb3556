import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildProgram, completionSpec, kidsAsOperands, main } from './main.js';
import type { Io } from './session.js';

function fakeIo(env: Record<string, string> = {}): Io & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  return {
    stdout,
    stderr,
    stdin: new PassThrough(),
    env,
    now: () => new Date('2026-12-03T10:00:00Z'),
    sleep: async () => {},
    out: () => out,
    err: () => err,
  };
}

describe('the command line', () => {
  const verbs = [
    ['status'],
    ['rotate'],
    ['revoke'],
    ['plan'],
    ['approve'],
    ['rollback'],
    ['drill', 'run'],
    ['drill', 'report'],
    ['check'],
    ['completion'],
  ];

  it.each(verbs)('%s %s --help has examples', async (...words) => {
    const io = fakeIo();
    expect(await main([...words.filter(Boolean), '--help'], io)).toBe(0);
    expect(io.out()).toMatch(/Examples:\n {2}(kubectl novapos|source|kubectl-novapos)/);
  });

  it.each([
    ['an unknown verb', ['frobnicate'], /unknown command 'frobnicate'/],
    ['a missing argument', ['rotate'], /missing required argument/],
    [
      'an unknown output format',
      ['-o', 'xml', 'status'],
      /unknown output format "xml" \(use -o json or -o yaml\)/,
    ],
    ['a bare name', ['rotate', 'auth'], /"auth" is not KIND\/NAME \(write it like skr\/NAME\)/],
    [
      'a verb on the wrong kind',
      ['approve', 'skr/auth'],
      /this verb works on SecretPromotion, not SigningKeyRotation/,
    ],
    ['an unknown shell', ['completion', 'fish'], /no completion for shell "fish"/],
  ])('%s is a usage error in one line (exit 2)', async (_name, argv, message) => {
    const io = fakeIo({ KUBECONFIG: '/nonexistent' });
    expect(await main(argv, io)).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err().trim().split('\n')).toHaveLength(1);
  });

  it('says in one line when the kubeconfig cannot be read', async () => {
    const io = fakeIo();
    expect(await main(['--kubeconfig', '/nonexistent/config', 'status'], io)).toBe(2);
    expect(io.err()).toMatch(
      /^error: cannot read the kubeconfig: .*\(set KUBECONFIG or --kubeconfig to a valid file\)\n$/,
    );
  });
});

describe('a kid that starts with "-" (a thumbprint does, one time in 64)', () => {
  // RFC 7638 thumbprints are base64url: "-" is one of its 64 letters. Such a kid must reach revoke as the kid,
  // not as an unknown option, and "-n…" must not set the namespace.
  it.each([
    ['-Ewu1qWRZlT_T9-3b2AOYQJvRVUNPstw4w30KvRx058', ['--yes', '--wait']],
    ['-nwu1qWRZlT_T9-3b2AOYQJvRVUNPstw4w30KvRx058', ['--yes']],
    ['--wu1qWRZlT_T9-3b2AOYQJvRVUNPstw4w30KvRx058', []],
  ])('revoke skr/auth %s reaches the apiserver with that kid', async (kid, flags) => {
    const io = fakeIo({ KUBECONFIG: '/nonexistent/kubeconfig' });
    const code = await main(['revoke', 'skr/auth', kid, ...flags], io);
    expect(io.err()).not.toMatch(/unknown option|too many arguments|missing required/);
    expect(io.err()).toMatch(/kubeconfig/);
    expect(code).not.toBe(2);
  });

  it('after "--" it is left as it is', async () => {
    const kid = '-Ewu1qWRZlT_T9-3b2AOYQJvRVUNPstw4w30KvRx058';
    expect(kidsAsOperands(['revoke', 'skr/auth', '--yes', '--', kid])).toEqual([
      'revoke',
      'skr/auth',
      '--yes',
      '--',
      kid,
    ]);
    expect(kidsAsOperands(['revoke', 'skr/auth', kid, '--yes'])).toEqual([
      'revoke',
      'skr/auth',
      '--yes',
      '--',
      kid,
    ]);
    // Only revoke takes a kid; a flag's value of that shape elsewhere is not touched.
    expect(kidsAsOperands(['status', '--as', kid])).toEqual(['status', '--as', kid]);
  });
});

describe('completion', () => {
  const spec = completionSpec(buildProgram(fakeIo()));

  it('knows every verb, its flags and the kinds', () => {
    expect(spec.verbs.map((v) => v.name)).toEqual([
      'status',
      'rotate',
      'revoke',
      'plan',
      'approve',
      'rollback',
      'drill',
      'check',
      'completion',
    ]);
    expect(spec.verbs.find((v) => v.name === 'rotate')!.flags).toEqual(
      expect.arrayContaining(['--emergency', '--wait']),
    );
    expect(spec.verbs.find((v) => v.name === 'drill')!.subverbs).toEqual(['run', 'report']);
    expect(spec.globalFlags).toEqual(expect.arrayContaining(['--context', '-n', '-A', '--as', '-o']));
    expect(spec.kinds).toEqual(['skr', 'trl', 'spromo', 'drdrill']);
  });

  it.each([
    ['bash', 'complete -F _kubectl_novapos kubectl-novapos'],
    ['zsh', 'compdef _kubectl-novapos kubectl-novapos'],
  ])('prints a %s script the shell can parse', async (shell, registers) => {
    const io = fakeIo();
    expect(await main(['completion', shell], io)).toBe(0);
    expect(io.out()).toContain(registers);
    expect(io.out()).toContain('kubectl-novapos __complete');
    if (shell === 'bash') execFileSync('bash', ['-n'], { input: io.out() });
  });

  // The bash script asks the plugin (`kubectl-novapos __complete`, stood in for here by a shell function
  // answering as the plugin does) and turns cobra's lines into COMPREPLY. The real plugin, kubectl, bash
  // and zsh together: test/cli/zsh-completion.int.test.ts.
  it.each([
    [
      'candidates without their descriptions',
      ['ro'],
      String.raw`rotate\tStart\nrollback\tRestore\n:4`,
      'rotate rollback|',
    ],
    ['no space after a kind', ['rotate', 's'], String.raw`skr/\n:6`, 'skr/|nospace'],
    ['file names where the plugin allows them', ['--kubeconfig', '/etc/hostn'], ':0', '/etc/hostname|'],
    ['nothing where the plugin offers nothing', ['plan', 'spromo/a', ''], ':4', '|'],
  ])('the bash script gives %s', async (_name, words, answer, want) => {
    const io = fakeIo();
    await main(['completion', 'bash'], io);
    const script = [
      io.out(),
      `kubectl-novapos() { [ "$*" = "__complete ${words.join(' ')}" ] || echo "asked: $*" >&2; printf '${answer}\\n'; }`,
      'compopt() { nospace=nospace; }',
      `COMP_WORDS=(kubectl-novapos ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}`,
      `_kubectl_novapos; echo "\${COMPREPLY[*]}|$nospace"`,
    ].join('\n');
    expect(
      execFileSync('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] })
        .toString()
        .trim(),
    ).toBe(want);
  });

  it.each([
    ['verbs, with descriptions', ['ro'], ['rotate\tStart', 'rollback\tRestore'], ':4'],
    ['the kind a verb takes, without a space after it', ['rotate', ''], ['skr/'], ':6'],
    ['drill verbs', ['drill', ''], ['run', 'report'], ':4'],
    ['output formats', ['status', '-o', ''], ['json', 'yaml'], ':4'],
    ["a verb's flags", ['revoke', '--y'], ['--yes'], ':4'],
    ['nothing after the last argument', ['plan', 'spromo/a', ''], [], ':4'],
  ])('__complete (kubectl_complete-novapos) offers %s', async (_name, words, want, directive) => {
    const io = fakeIo({ KUBECONFIG: '/nonexistent' });
    expect(await main(['__complete', ...words], io)).toBe(0);
    const lines = io.out().trim().split('\n');
    expect(lines.at(-1)).toBe(directive);
    const got = lines.slice(0, -1);
    expect(got.length).toBe(want.length);
    for (const [i, w] of want.entries()) expect(got[i]!.startsWith(w)).toBe(true);
  });
});
