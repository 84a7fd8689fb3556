import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { auditDashboard } from './audit.js';
import { authDashboard } from './auth.js';
import { gatewayDashboard } from './gateway.js';
import { keyRotationDashboard } from './key-rotation.js';
import { operatorDashboard } from './operator.js';
import { secretPromotionDashboard } from './secret-promotion.js';
import { sloDashboard } from './slo.js';

/** Every dashboard, keyed by the file it renders to (dashboards/<name>.json). */
export function dashboards(): Record<string, Dashboard> {
  return {
    audit: auditDashboard(),
    auth: authDashboard(),
    gateway: gatewayDashboard(),
    'key-rotation': keyRotationDashboard(),
    'secret-promotion': secretPromotionDashboard(),
    operator: operatorDashboard(),
    slo: sloDashboard(),
  };
}

export function dashboardJson(d: Dashboard): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}
