import { execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { aRotation } from '../signing-keys/support.js';
import { buildPlugin, repoRoot, scratchDir } from './support.js';

/**
 * `kubectl novapos <TAB>` in zsh, as an on-call engineer has it: the real kubectl's own zsh script
 * (`source <(kubectl completion zsh)`) asks `kubectl __complete novapos …`, and kubectl (1.26 or newer)
 * hands those words to kubectl_complete-novapos on the PATH, which asks the plugin. An interactive zsh
 * runs under a pseudo terminal (util-linux `script`) and the keys are typed into it; what the Tab key
 * left on the command line is read back by prefixing the line with `print -r --` and pressing Enter.
 * The plugin's own `completion zsh` script (for `kubectl-novapos` typed directly) is checked the same way.
 */
describe('kubectl novapos completion in zsh', () => {
  const env = inject('env');
  const ns = `cli-zsh-${process.pid}`;
  const home = scratchDir('cli-zsh-');
  const bin = path.join(home, 'bin');
  let shellEnv: Record<string, string>;

  const kubectl = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile(
        env.kube!.kubectlPath,
        ['--kubeconfig', env.kube!.kubeconfig, ...args],
        (err, out, e) => (err ? reject(new Error(e || err.message)) : resolve(out)),
      );
      child.stdin?.end(input ?? '');
    });

  beforeAll(async () => {
    try {
      execFileSync('zsh', ['--version']);
    } catch {
      throw new Error('zsh is not installed: bash scripts/ensure-system.sh installs it');
    }
    const bundle = await buildPlugin();
    // What a user has on the PATH after `kubectl krew install novapos` (or `npm install -g`): the plugin,
    // its completion helper and kubectl.
    execFileSync('mkdir', ['-p', bin]);
    copyFileSync(bundle, path.join(bin, 'kubectl-novapos'));
    copyFileSync(
      path.join(repoRoot, 'cli/krew/kubectl_complete-novapos'),
      path.join(bin, 'kubectl_complete-novapos'),
    );
    symlinkSync(env.kube!.kubectlPath, path.join(bin, 'kubectl'));
    shellEnv = {
      PATH: [bin, path.dirname(process.execPath), '/usr/bin', '/bin'].join(':'),
      HOME: home,
      ZDOTDIR: home,
      KUBECONFIG: env.kube!.kubeconfig,
      TERM: 'dumb',
    };
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['apply', '-f', '-'], JSON.stringify(aRotation(ns, 'auth', {})));
    await kubectl(['apply', '-f', '-'], JSON.stringify(aRotation(ns, 'gateway', {})));
  }, 180_000);

  afterAll(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('completes verbs, subverbs and resource names through the real kubectl zsh script', async () => {
    const zsh = await Zsh.start(
      shellEnv,
      ['autoload -U compinit && compinit -u', 'source <(kubectl completion zsh)'].join('\n'),
    );
    try {
      expect(await zsh.complete('kubectl novapos dr')).toBe('kubectl novapos drill');
      expect(await zsh.complete('kubectl novapos drill r')).toBe('kubectl novapos drill r');
      expect(await zsh.complete('kubectl novapos drill re')).toBe('kubectl novapos drill report');
      // The words' own -n reaches the apiserver: names of that namespace, one of them left.
      expect(await zsh.complete(`kubectl novapos -n ${ns} rotate skr/a`)).toBe(
        `kubectl novapos -n ${ns} rotate skr/auth`,
      );
      // Ambiguous: zsh lists the verbs with the plugin's descriptions.
      const listing = await zsh.list('kubectl novapos ', /status\s+-- One screen per resource/);
      expect(listing).toMatch(/rotate\s+-- Start a rotation now/);
      expect(listing).toMatch(/check\s+-- CRDs installed at this version/);
      expect(listing).toMatch(/drill\s+-- Run a disaster-recovery drill/);
    } finally {
      zsh.stop();
    }
  }, 120_000);

  it('completes kubectl-novapos typed directly with the plugin’s own `completion zsh` script', async () => {
    writeFileSync(
      path.join(home, '_kubectl-novapos'),
      execFileSync(path.join(bin, 'kubectl-novapos'), ['completion', 'zsh']),
    );
    for (const load of [
      // sourced, as its first line says
      'autoload -U compinit && compinit -u\nsource <(kubectl-novapos completion zsh)',
      // or saved as _kubectl-novapos in a directory of $fpath, as --help says
      `fpath=(${home} $fpath)\nautoload -U compinit && compinit -u`,
    ]) {
      const zsh = await Zsh.start(shellEnv, load);
      try {
        expect(await zsh.complete('kubectl-novapos rot')).toBe('kubectl-novapos rotate');
        expect(await zsh.complete(`kubectl-novapos -n ${ns} rotate skr/g`)).toBe(
          `kubectl-novapos -n ${ns} rotate skr/gateway`,
        );
      } finally {
        zsh.stop();
      }
    }
  }, 120_000);

  it('the plugin’s own `completion bash` script names the resources of the words’ own namespace', () => {
    const reply = (...words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `source <(kubectl-novapos completion bash)
COMP_WORDS=(kubectl-novapos ${words.join(' ')}); COMP_CWORD=${words.length}; _kubectl_novapos
echo "\${COMPREPLY[*]}"`,
        ],
        { env: shellEnv },
      )
        .toString()
        .trim();
    expect(reply('-n', ns, 'rotate', 'skr/')).toBe('skr/auth skr/gateway');
    expect(reply('dr')).toBe('drill');
    expect(reply('drill', 're')).toBe('report');
  });
});

/** An interactive zsh under a pseudo terminal, its .zshrc given, typed into. */
class Zsh {
  private out = '';
  private mark = 1000;
  private waiters: (() => void)[] = [];

  private constructor(private readonly child: ReturnType<typeof spawn>) {
    child.stdout!.on('data', (c) => {
      this.out += c;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async start(env: Record<string, string>, zshrc: string): Promise<Zsh> {
    writeFileSync(
      path.join(env.ZDOTDIR!, '.zshrc'),
      `PS1='%% '\nunsetopt beep\n${zshrc}\nprint -r -- "<$((1+1))ready>"\n`,
    );
    const child = spawn('script', ['-qfec', 'zsh -i', '/dev/null'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const zsh = new Zsh(child);
    await zsh.until((out) => out.includes('<2ready>'), 'zsh to start');
    return zsh;
  }

  /**
   * Types `line`, presses Tab once, and returns the command line as the completion left it (the space a
   * unique match adds after itself is not seen: `print` separates its words with it).
   */
  async complete(line: string): Promise<string> {
    const mark = ++this.mark;
    const from = this.out.length;
    this.type(`${line}\t`);
    await this.quiet(from);
    // Ctrl-A, then run `print -r -- "<N>" <the line>`: the marker is printed only when the line runs.
    this.type(`\x01print -r -- "<$((${mark}+0))>" \r`);
    const found = await this.until((out) => new RegExp(`<${mark}> ([^\\r\\n]*)`).exec(out)?.[1], 'the line');
    return found;
  }

  /** Types `line` and Tab, and returns what zsh listed once it shows `last`; the line is then discarded. */
  async list(line: string, last: RegExp): Promise<string> {
    const from = this.out.length;
    this.type(`${line}\t`);
    await this.until((out) => last.test(out.slice(from).replaceAll('\r', '')), 'the listing');
    const listed = this.out.slice(from);
    this.type('\x15');
    return listed.replaceAll('\r', '');
  }

  stop(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  private type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /** Waits until zsh printed something after `from` and then nothing for 700 ms (the completion ran). */
  private async quiet(from: number): Promise<void> {
    await this.until((out) => out.length > from, 'zsh to answer the Tab key');
    for (;;) {
      const length = this.out.length;
      await new Promise((r) => setTimeout(r, 700));
      if (this.out.length === length) return;
    }
  }

  private async until<T>(test: (out: string) => T | undefined | false, what: string): Promise<T> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const v = test(this.out);
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) throw new Error(`waited for ${what}; zsh printed:\n${this.out}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 250);
      });
    }
  }
}
