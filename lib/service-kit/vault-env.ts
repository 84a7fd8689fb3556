import type { VaultAuth } from '../vault.js';
import { ConfigError, type EnvReader } from './env.js';

/**
 * How a service logs in to Vault/OpenBao (docs/contracts.md): `VAULT_AUTH_METHOD=token` (default) with
 * `VAULT_TOKEN`, or `kubernetes` with `VAULT_K8S_ROLE`, `VAULT_K8S_TOKEN_PATH` (the projected ServiceAccount
 * token) and `VAULT_K8S_MOUNT`.
 */
export function vaultAuthFromEnv(r: EnvReader): VaultAuth {
  const method = r.string('VAULT_AUTH_METHOD', 'token');
  if (method === 'token') {
    const token = r.optional('VAULT_TOKEN');
    if (!token) throw new ConfigError('VAULT_TOKEN is required when VAULT_AUTH_METHOD=token');
    return { method: 'token', token };
  }
  if (method === 'kubernetes') {
    const role = r.optional('VAULT_K8S_ROLE');
    if (!role) throw new ConfigError('VAULT_K8S_ROLE is required when VAULT_AUTH_METHOD=kubernetes');
    return {
      method: 'kubernetes',
      role,
      jwtPath: r.string('VAULT_K8S_TOKEN_PATH', '/var/run/secrets/kubernetes.io/serviceaccount/token'),
      mountPath: r.string('VAULT_K8S_MOUNT', 'kubernetes'),
    };
  }
  throw new ConfigError('VAULT_AUTH_METHOD must be token or kubernetes');
}
