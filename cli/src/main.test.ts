import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildProgram, completionSpec, main } from './main.js';
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

  it.each(['bash', 'zsh'])('prints a %s script the shell can parse', async (shell) => {
    const io = fakeIo();
    expect(await main(['completion', shell], io)).toBe(0);
    expect(io.out()).toContain('complete -F _kubectl_novapos kubectl-novapos');
    if (shell === 'bash') execFileSync('bash', ['-n'], { input: io.out() });
  });

  it('completes verbs in bash', () => {
    const io = fakeIo();
    return main(['completion', 'bash'], io).then(() => {
      const words = execFileSync('bash', [
        '-c',
        `${io.out()}\nCOMP_WORDS=(kubectl-novapos ro); COMP_CWORD=1; _kubectl_novapos; echo "\${COMPREPLY[@]}"`,
      ]).toString();
      expect(words.trim().split(' ').sort()).toEqual(['rollback', 'rotate']);
    });
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
