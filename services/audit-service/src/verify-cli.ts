// `audit verify`: recomputes the audit chain in DATABASE_URL and names the first broken link; with VAULT_ADDR
// (+ the Vault login of the service: VAULT_AUTH_METHOD=kubernetes with VAULT_K8S_ROLE, or VAULT_TOKEN; AUDIT_TRANSIT_KEY...)
// it also checks every signed chain head.
//   DATABASE_URL=postgres://... npx tsx services/audit-service/src/verify-cli.ts
// Prints the result as JSON; exits 0 when the chain verifies, 1 when a link is broken, 2 on bad usage.
import { connectPostgres } from '../../../lib/service-kit/db.js';
import { envReader } from '../../../lib/service-kit/env.js';
import { signingFromEnv } from './config.js';
import { headSigner } from './server.js';
import { AuditRepository } from './storage/repo.js';
import { verifyAudit } from './verify.js';

const url = envReader(process.env).optional('DATABASE_URL');
if (!url) {
  process.stderr.write('DATABASE_URL is required\n');
  process.exit(2);
}
const db = connectPostgres(url, { max: 1 });
try {
  const result = await verifyAudit(
    new AuditRepository(db),
    headSigner(signingFromEnv(envReader(process.env))),
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.ok ? 0 : 1;
} finally {
  await db.close();
}
