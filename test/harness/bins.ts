import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const buildScript = path.resolve(here, '../bins/build.sh');

export interface ComponentBinaries {
  /** Directory holding kube-apiserver, etcd and kubectl. */
  readonly kubebuilderAssets?: string;
  /** OpenBao (or Vault) server binary. */
  readonly baoBinary?: string;
}

const resolved = new Map<string, string>();

/**
 * Paths of the Go-built components, building what is missing (test/bins/build.sh; progress on stderr).
 * KUBEBUILDER_ASSETS and BAO_BINARY pointing at existing binaries are used as they are.
 */
export function componentBinaries(which: 'k8s' | 'bao'): ComponentBinaries {
  const key = which === 'k8s' ? 'KUBEBUILDER_ASSETS' : 'BAO_BINARY';
  if (!resolved.has(key)) {
    const out = execFileSync('bash', [buildScript, which], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }).toString();
    for (const line of out.split('\n')) {
      const [k, ...v] = line.split('=');
      if (k && v.length) resolved.set(k.trim(), v.join('=').trim());
    }
  }
  return which === 'k8s' ? { kubebuilderAssets: resolved.get(key) } : { baoBinary: resolved.get(key) };
}

// `npm run bins`: build everything ahead of time.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(componentBinaries('k8s'));
  console.log(componentBinaries('bao'));
  console.log(nodeBinaries());
}

export interface NodeBinaries {
  /** Directory holding kubelet, kube-controller-manager, kube-scheduler, kube-proxy. */
  readonly kubeNodeDir: string;
  /** Directory holding containerd, containerd-shim-runc-v2 and ctr. */
  readonly containerdDir: string;
  readonly corednsBinary: string;
}

let nodeResolved: NodeBinaries | undefined;

/** The Kubernetes node's Go-built components (`test/bins/build.sh node`; progress on stderr). */
export function nodeBinaries(): NodeBinaries {
  if (!nodeResolved) {
    const out = execFileSync('bash', [buildScript, 'node'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }).toString();
    const vars = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [k, ...v] = line.split('=');
      if (k && v.length) vars.set(k.trim(), v.join('=').trim());
    }
    const need = (k: string) => {
      const v = vars.get(k);
      if (!v) throw new Error(`test/bins/build.sh node printed no ${k}`);
      return v;
    };
    nodeResolved = {
      kubeNodeDir: need('KUBE_NODE_BIN'),
      containerdDir: need('CONTAINERD_BIN'),
      corednsBinary: need('COREDNS_BINARY'),
    };
  }
  return nodeResolved;
}
