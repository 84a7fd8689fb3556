import { Router } from 'express';
import type { Readiness } from '../../../../lib/service-kit/admin-listener.js';
import type { KeyRing } from '../domain/keyring.js';
import { openApiDocument } from '../openapi.js';
import type { Db } from '../storage/db.js';

export const VERSION = '0.1.0';

/** Readiness: the database answers and a key set is loaded (served as /readyz on the admin listener). */
export async function readiness(deps: { db: Db; keyring: KeyRing }): Promise<Readiness> {
  const database = await deps.db
    .query('SELECT 1')
    .then(() => 'ok' as const)
    .catch(() => 'error' as const);
  const signingKeys = deps.keyring.loaded ? 'loaded' : 'missing';
  return { ready: database === 'ok' && signingKeys === 'loaded', checks: { database, signingKeys } };
}

/**
 * `/healthz` (live) and `/readyz` (ready) are on the admin listener (ADMIN_PORT, 9085), as every service
 * serves them (lib/service-kit healthRoutes; probes use them). The older paths stay on this public port as
 * aliases: /health (ready: database answers and a key set is loaded) and /health/live. `/metrics` (with the
 * per-tenant gauges) is on the admin listener only, never on this public port.
 */
export function healthRoutes(deps: { db: Db; keyring: KeyRing }): Router {
  const r = Router();
  // The API's OpenAPI 3.1 document (generated from routes/api.ts; committed as openapi.json).
  r.get('/openapi.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json(openApiDocument());
  });
  r.get('/health/live', (_req, res) => {
    res.json({ status: 'alive' });
  });
  r.get('/health', async (_req, res) => {
    const { ready, checks } = await readiness(deps);
    res.status(ready ? 200 : 503).json({
      status: ready ? 'healthy' : 'degraded',
      service: 'auth-service',
      version: VERSION,
      timestamp: new Date().toISOString(),
      checks,
    });
  });
  return r;
}
