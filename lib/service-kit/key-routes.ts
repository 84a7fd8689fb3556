import { type AdminRoute, sendJson } from './admin-listener.js';

/**
 * `GET /keys/status` and `POST /keys/reload` (docs/contracts.md, "Reload notification" and "GET /keys/status")
 * for a service that verifies tokens but does not sign them: it reports the key set its verifier has loaded
 * (the issuer's `X-Keyset-Hash`, the published kids, no active kid) so a SigningKeyRotation can list it.
 * Public data only both ways; the reload carries no body, so it cannot be used to inject a key.
 */
export interface KeyStatus {
  readonly keysetHash: string | null;
  readonly kids: readonly string[];
  readonly activeKid: string | null;
  readonly loadedAt: string | null;
}

/** What the routes need of a verifier (`RemoteJwksVerifier` in lib/jwks-verifier.ts has both). */
export interface LoadedKeys {
  keyStatus(): KeyStatus;
  /** Fetches the key set now; rejects when no usable set could be loaded. */
  reload(): Promise<unknown>;
}

/** The status of a service that verifies no tokens (no JWKS configured): nothing loaded. */
export const NO_KEY_SET: KeyStatus = { keysetHash: null, kids: [], activeKid: null, loadedAt: null };

/**
 * The two key routes for an admin listener. `keys` undefined: the service is not configured to verify
 * tokens, so it reports `NO_KEY_SET` (as the gateway does without JWT auth) and a reload has nothing to do.
 *
 * The reload waits for the fetch and answers `202` with the status that followed it, so the caller sees at
 * once whether the new set arrived (the operator only needs the 2xx). A fetch that fails while the previous
 * set is still within its age keeps that set, and the answer shows it unchanged; with no usable set at all
 * the answer is `503 keys_unavailable`.
 */
export function keyRoutes(keys: LoadedKeys | undefined): AdminRoute[] {
  const status = (): KeyStatus => keys?.keyStatus() ?? NO_KEY_SET;
  return [
    { method: 'GET', path: '/keys/status', handle: (_req, res) => sendJson(res, 200, status()) },
    {
      method: 'POST',
      path: '/keys/reload',
      handle: async (_req, res) => {
        try {
          await keys?.reload();
        } catch {
          // The verifier logs the fetch failure (its onFetch); the caller gets a stable code.
          return sendJson(res, 503, {
            error: { code: 'keys_unavailable', message: 'the key set could not be loaded' },
          });
        }
        sendJson(res, 202, status());
      },
    },
  ];
}
