import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { APPROVERS_GROUP } from '../../operator/src/api/meta.js';
import { retryWhileNotServed } from '../harness/components/kube.js';

/**
 * kubectl against a harness apiserver, as one user (a kubeconfig path); rejects with kubectl's stderr. A
 * write refused only because a kind is not yet served everywhere is retried (see retryWhileNotServed).
 */
export function kubectlAs(kubectlPath: string, kubeconfig: string) {
  const once = kubectlOnce(kubectlPath, kubeconfig);
  return (args: readonly string[], input?: string): Promise<string> =>
    retryWhileNotServed(() => once(args, input));
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

/** RBAC that lets approvers and engineers edit SecretPromotions: RBAC cannot tell an approval from an edit. */
export const secretPromotionEditorsRbac = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secretpromotion-editor}
rules:
  - apiGroups: [security.novapos.io]
    resources: [secretpromotions]
    verbs: [get, list, watch, create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: secretpromotion-editors}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secretpromotion-editor}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: '${APPROVERS_GROUP}'}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: 'novapos:engineers'}
`;
