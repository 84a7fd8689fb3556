import { ConditionType, Reason } from '../../api/index.js';

/**
 * Condition types and reasons of SigningKeyRotation. The issue names Rotating and Degraded, which
 * operator/src/api/conditions.ts does not list yet; they are here until they move there.
 */
export const SkrCondition = {
  Ready: ConditionType.Ready,
  /** A rotation is under way: a next key is published (lead time), or a rotate-now is being carried out. */
  Rotating: 'Rotating',
  /** Something needs attention: Vault unreachable, a service that has not loaded the key set in time. */
  Degraded: 'Degraded',
  ServicesLoaded: ConditionType.ServicesLoaded,
  /** The resource uses a deprecated field (spec.services[].statusURL). */
  Deprecated: 'Deprecated',
} as const;

export const SkrReason = {
  ...Reason,
  /** No active key yet: the first key is being generated and published. */
  Initializing: 'Initializing',
  /** Nothing to rotate right now. */
  Idle: 'Idle',
  /** The next key is published and may sign, but not every service has loaded the set containing it. */
  WaitingForServices: 'WaitingForServices',
  /** The active key's secret is missing in Vault: an emergency rotation replaces it. */
  KeyMaterialMissing: 'KeyMaterialMissing',
  /** The Vault connection named in spec.vault.connection is not configured. */
  UnknownVaultConnection: 'UnknownVaultConnection',
  Recovered: 'Recovered',
  KeyGenerated: 'KeyGenerated',
  KeyRemoved: 'KeyRemoved',
  StatusURLDeprecated: 'StatusURLDeprecated',
  /** rotate-now came with an emergency annotation that names another value: the lead time is kept. */
  EmergencyNotForThisRotation: 'EmergencyNotForThisRotation',
} as const;
