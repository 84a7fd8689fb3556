import { Router } from 'express';
import type { KeyRing } from '../domain/keyring.js';
import { openApiDocument } from '../openapi.js';
import type { Db } from '../storage/db.js';

export const VERSION = '0.1.0';

/**
 * /health (ready: database answers and a key set is loaded) and /health/live. `/metrics` (with the
 * per-tenant gauges) is on the admin listener only (ADMIN_PORT, 9085), never on this public port.
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
    const database = await deps.db
      .query('SELECT 1')
      .then(() => 'ok' as const)
      .catch(() => 'error' as const);
    const signingKeys = deps.keyring.loaded ? 'loaded' : 'missing';
    const healthy = database === 'ok' && signingKeys === 'loaded';
    res.status(healthy ? 200 : 503).json({
      status: healthy ? 'healthy' : 'degraded',
      service: 'auth-service',
      version: VERSION,
      timestamp: new Date().toISOString(),
      checks: { database, signingKeys },
    });
  });
  return r;
}
