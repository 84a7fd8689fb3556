import type { KindDefinition } from '../schema.js';
import { disasterRecoveryDrill } from './disasterrecoverydrill.js';
import { secretPromotion } from './secretpromotion.js';
import { signingKeyRotation } from './signingkeyrotation.js';
import { tenantRateLimit } from './tenantratelimit.js';

export * from './disasterrecoverydrill.js';
export * from './secretpromotion.js';
export * from './signingkeyrotation.js';
export * from './tenantratelimit.js';

/** Every kind of security.novapos.io/v1alpha1, in the order the CRDs are generated. */
export const KINDS: readonly KindDefinition[] = [
  signingKeyRotation,
  tenantRateLimit,
  secretPromotion,
  disasterRecoveryDrill,
];
