import { Router } from 'express';
import { AppError } from '../domain/errors.js';
import type { KeyRing } from '../domain/keyring.js';

/** The public JWKS, the key-set status the operator polls, and the reload notification (contract). */
export function keyRoutes(keyring: KeyRing): Router {
  const r = Router();

  r.get('/.well-known/jwks.json', (_req, res) => {
    const loaded = keyring.loaded;
    if (!loaded) throw new AppError('signing_unavailable');
    res.setHeader('Cache-Control', `public, max-age=${loaded.doc.jwksCacheTTLSeconds}`);
    // Verifiers (the gateway) report this hash at their own /keys/status, so the operator can tell which
    // key set each has loaded (contracts: "Key-set hash on the JWKS").
    res.setHeader('X-Keyset-Hash', loaded.doc.keysetHash);
    res.json({ keys: loaded.doc.jwks.keys });
  });

  r.get('/keys/status', (_req, res) => {
    res.json(keyring.status());
  });

  // No body, no data: it only makes the service re-read Vault now, so it cannot inject a key.
  r.post('/keys/reload', (_req, res) => {
    void keyring.reload();
    res.status(202).json({ reloading: true });
  });
  return r;
}
