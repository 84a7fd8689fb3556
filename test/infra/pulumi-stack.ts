/**
 * A real Pulumi stack of this repository's program for the infra suites (pulumi-cli.int.test.ts against a
 * private kube-apiserver, pulumi-node.int.test.ts against the real node): the Pulumi CLI and Kubernetes
 * provider built by test/bins/pulumi/build.sh, a project in a temporary directory (Pulumi.yaml with `main:`
 * pointing at infra/, so no stack file or encryption salt lands in the repository), a local file backend,
 * the passphrase secrets provider, dev's config with the suite's changes, and the secrets set through
 * `pulumi config set --secret`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '../../infra/sources.js';
import { stackFile } from '../../infra/testing/mock-stack.js';

const run = promisify(execFile);

export interface PulumiStack {
  /** The project directory (Pulumi.yaml, Pulumi.<stack>.yaml). */
  readonly project: string;
  readonly stackPath: string;
  /** Runs `pulumi <args> --non-interactive` in the project; rejects with its output on failure. */
  pulumi(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** Removes the temporary directory (state, home, project). */
  remove(): void;
}

/** Builds (cold ~25 min on 2 cores) or finds the Pulumi CLI and provider; returns their directory. */
export function pulumiBinDir(): string {
  const out = execFileSync('bash', [path.join(REPO_ROOT, 'test/bins/pulumi/build.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).toString();
  const dir = out.match(/^PULUMI_BIN_DIR=(.*)$/m)?.[1] ?? '';
  if (!dir) throw new Error('test/bins/pulumi/build.sh printed no PULUMI_BIN_DIR');
  return dir;
}

export async function preparePulumiStack(opts: {
  /** Names the temporary directory and the passphrase. */
  readonly label: string;
  readonly stack: string;
  readonly kubeconfig: string;
  /** The stack's config from dev's (`novapos:<key>` → value). */
  readonly config: (dev: Record<string, Record<string, unknown>>) => Record<string, unknown>;
  /** Secrets, set in this order with `pulumi config set --secret`. */
  readonly secrets: Readonly<Record<string, string>>;
  readonly defaultTimeoutMs: number;
}): Promise<PulumiStack> {
  const binDir = pulumiBinDir();
  const work = mkdtempSync(path.join(tmpdir(), `novapos-${opts.label}-`));
  const project = path.join(work, 'project');
  for (const dir of [project, path.join(work, 'state'), path.join(work, 'home')])
    mkdirSync(dir, { recursive: true });
  const projectFile = parse(readFileSync(path.join(REPO_ROOT, 'Pulumi.yaml'), 'utf8'));
  projectFile.main = path.relative(project, path.join(REPO_ROOT, 'infra'));
  writeFileSync(path.join(project, 'Pulumi.yaml'), stringify(projectFile));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${binDir}:${process.env['PATH']}`,
    PULUMI_HOME: path.join(work, 'home'),
    PULUMI_BACKEND_URL: `file://${path.join(work, 'state')}`,
    PULUMI_CONFIG_PASSPHRASE: `novapos-${opts.label}-passphrase`,
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    KUBECONFIG: opts.kubeconfig,
    NO_COLOR: '1',
  };
  const pulumi = async (args: readonly string[], timeoutMs = opts.defaultTimeoutMs): Promise<string> => {
    try {
      const { stdout } = await run('pulumi', [...args, '--non-interactive'], {
        cwd: project,
        env,
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`pulumi ${args.join(' ')} failed:\n${e.stdout ?? ''}\n${e.stderr ?? e.message}`);
    }
  };
  const remove = () => rmSync(work, { recursive: true, force: true });
  try {
    await pulumi(['stack', 'init', opts.stack]);
    const stackPath = path.join(project, `Pulumi.${opts.stack}.yaml`);
    const stackDoc = parse(readFileSync(stackPath, 'utf8')) as Record<string, unknown>;
    const dev = parse(readFileSync(stackFile('dev'), 'utf8')).config as Record<
      string,
      Record<string, unknown>
    >;
    stackDoc['config'] = opts.config(dev);
    writeFileSync(stackPath, stringify(stackDoc));
    for (const [key, value] of Object.entries(opts.secrets))
      await pulumi(['config', 'set', '--secret', key, value]);
    return { project, stackPath, pulumi, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
