export * from './signing-key-store.js';
export { VaultSigningKeyStore, vaultSigningKeyStores } from './vault-signing-key-store.js';
