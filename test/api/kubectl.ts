import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

/** What kube-apiserver answers while one of its caches has not yet caught up with a new CRD or policy. */
const NOT_YET_SERVED =
  /There can be a delay between when CustomResourceDefinitions are created and when they are available/;

/**
 * kubectl against a harness apiserver, as one user (a kubeconfig path); rejects with kubectl's stderr.
 * A write refused only because a kind is not yet served everywhere (the apiserver says to retry) is
 * retried for up to 30 s, as a client would; every other error is returned at once.
 */
export function kubectlAs(kubectlPath: string, kubeconfig: string) {
  const once = kubectlOnce(kubectlPath, kubeconfig);
  return async (args: readonly string[], input?: string): Promise<string> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        return await once(args, input);
      } catch (err) {
        if (!NOT_YET_SERVED.test((err as Error).message) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
}

function kubectlOnce(kubectlPath: string, kubeconfig: string) {
  return (args: readonly string[], input?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(
        kubectlPath,
        ['--kubeconfig', kubeconfig, ...args],
        { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(stderr.trim() || err.message));
          else resolve(stdout);
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });
}

export type Kubectl = ReturnType<typeof kubectlAs>;

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A resource as plain data. */
// biome-ignore lint/suspicious/noExplicitAny: test data is edited freely
export type Doc = Record<string, any>;

/** The custom resources in examples/ (not the namespace), each moved to `namespace`. */
export function examples(namespace: string): Map<string, Doc> {
  const dir = path.join(repoRoot, 'examples');
  const out = new Map<string, Doc>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const doc = parse(readFileSync(path.join(dir, file), 'utf8')) as Doc;
    if (doc.kind === 'Namespace') continue;
    doc.metadata.namespace = namespace;
    out.set(doc.kind, doc);
  }
  return out;
}

export const yaml = (doc: Doc): string => stringify(doc);
