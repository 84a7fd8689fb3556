/**
 * A token verifier in its own process, as a gateway replica would be: lib/jwks-verifier.ts against
 * auth-service's JWKS (cache bounded by the Cache-Control max-age it sends). The parent sends
 * `{ id, token }` over IPC and gets back `{ id, ok, kid, reason }`. Config in argv[2] as JSON.
 */
import { JwtVerificationError, RemoteJwksVerifier } from '../../lib/jwks-verifier.js';

const config = JSON.parse(process.argv[2] ?? '{}') as {
  jwksUrl: string;
  issuer: string;
  audience: string;
  maxCacheSeconds: number;
};
const verifier = new RemoteJwksVerifier({
  jwksUrl: config.jwksUrl,
  issuer: config.issuer,
  audience: config.audience,
  maxCacheSeconds: config.maxCacheSeconds,
  minRefetchIntervalMs: 1_000,
  clockToleranceSeconds: 1,
  requiredClaims: ['exp', 'iat', 'sub'],
});

process.on('message', (msg: { id: number; token: string }) => {
  verifier.verify(msg.token).then(
    (v) => process.send?.({ id: msg.id, ok: true, kid: v.kid }),
    (err: unknown) =>
      process.send?.({
        id: msg.id,
        ok: false,
        reason: err instanceof JwtVerificationError ? err.reason : 'error',
      }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
