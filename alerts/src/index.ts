import { auditRules } from './audit.js';
import { authRules } from './auth.js';
import { availabilityRules } from './availability.js';
import { gatewayRules } from './gateway.js';
import type { RuleArea } from './model.js';
import { operatorRules } from './operator.js';
import { sloRules } from './slo.js';

/** Every rule of the project, one area per rule file and per promtool test file. */
export const ruleAreas: readonly RuleArea[] = [
  authRules,
  gatewayRules,
  sloRules,
  availabilityRules,
  operatorRules,
  auditRules,
];
