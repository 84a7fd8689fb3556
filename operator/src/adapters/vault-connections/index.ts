export {
  type ConnectionAuth,
  type ConnectionDefinition,
  connectionsFromConfig,
  UnknownConnectionError,
  VaultConnections,
  type VaultConnectionsOptions,
} from './connections.js';
export {
  mapLimit,
  type SecretData,
  type SecretStore,
  type StoredSecret,
  VaultSecretStore,
} from './secret-store.js';
