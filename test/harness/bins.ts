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
}
