export {
  type ConnectionAuth,
  type ConnectionDefinition,
  UnknownConnectionError,
  VaultConnections,
  type VaultConnectionsOptions,
  connectionsFromConfig,
} from './connections.js';
export { type SecretData, type SecretStore, type StoredSecret, VaultSecretStore, mapLimit } from './secret-store.js';
