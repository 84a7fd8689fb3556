import { createHash, randomBytes } from 'node:crypto';
import { checkPassword } from './domain/password-policy.js';
import { PasswordHasher } from './domain/passwords.js';
import type { Db } from './storage/db.js';
import { migrate } from './storage/migrate.js';
import { AuthRepository } from './storage/repo.js';

export const DEMO_TENANT = 'demo';
export const DEMO_ADMIN = 'admin@novapos.local';

/** A password that satisfies the policy: 24 random characters plus one of each required class. */
export function generatePassword(minLength = 12): string {
  for (;;) {
    const core = randomBytes(18).toString('base64url').replace(/[-_]/g, '');
    const candidate = `${core}Aa7#`;
    if (checkPassword(candidate, { minLength }).length === 0) return candidate;
  }
}

/**
 * Creates the demo tenant and its admin (admin@novapos.local) when missing. Returns the generated
 * password only when the admin was created now: it is shown once and stored only as an argon2id hash.
 */
export async function seedDemo(
  db: Db,
  hasher: PasswordHasher,
  opts: { tenant?: string; email?: string; password?: string } = {},
): Promise<{ tenant: string; email: string; password: string | undefined; userId: string | undefined }> {
  await migrate(db);
  const repo = new AuthRepository(db);
  const tenant = opts.tenant ?? DEMO_TENANT;
  const email = opts.email ?? DEMO_ADMIN;
  await repo.createTenant(tenant, tenant === DEMO_TENANT ? 'NovaPOS demo' : tenant);
  if (await repo.findUserByEmail(tenant, email))
    return { tenant, email, password: undefined, userId: undefined };
  const password = opts.password ?? generatePassword();
  const userId = await repo.createUser({
    tenantId: tenant,
    email,
    passwordHash: await hasher.hash(password),
    roles: ['admin'],
  });
  return { tenant, email, password, userId };
}

/**
 * Issues a one-time bootstrap token for POST /register-first (with ALLOW_REGISTER_FIRST=true): only its
 * sha256 is stored; the token is returned to be shown once.
 */
export async function issueBootstrapToken(db: Db): Promise<string> {
  await migrate(db);
  const token = `nbt_${randomBytes(32).toString('base64url')}`;
  await new AuthRepository(db).insertBootstrapToken(createHash('sha256').update(token).digest('hex'));
  return token;
}

// `npm run auth:seed` (DATABASE_URL, or PGLITE_DATA_DIR for the embedded database);
// `npm run auth:seed -- --bootstrap-token` issues a bootstrap token instead of creating the demo admin.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { connectPostgres, openPglite } = await import('./storage/db.js');
  const url = process.env['DATABASE_URL'];
  const db = url ? connectPostgres(url) : await openPglite(process.env['PGLITE_DATA_DIR']);
  if (process.argv.includes('--bootstrap-token')) {
    const token = await issueBootstrapToken(db);
    process.stdout.write(
      `Bootstrap token (shown once, stored only as a hash; works once):\n${token}\n` +
        'POST /register-first with X-Tenant-ID and X-Bootstrap-Token, on a service with ALLOW_REGISTER_FIRST=true.\n',
    );
    await db.close();
    process.exit(0);
  }
  const hasher = new PasswordHasher({
    memoryCost: Number(process.env['ARGON2_MEMORY_KIB'] ?? 19_456),
    timeCost: Number(process.env['ARGON2_TIME_COST'] ?? 2),
    parallelism: Number(process.env['ARGON2_PARALLELISM'] ?? 1),
  });
  const out = await seedDemo(db, hasher, {
    tenant: process.env['SEED_TENANT'],
    email: process.env['SEED_ADMIN_EMAIL'],
  });
  if (out.password) {
    process.stdout.write(
      `Created tenant "${out.tenant}" and admin ${out.email}.\nPassword (shown once, not stored in clear): ${out.password}\n` +
        'Sign in with X-Tenant-ID and enroll MFA right away (POST /mfa/enroll/start, /mfa/enroll/complete).\n',
    );
  } else {
    process.stdout.write(`Admin ${out.email} already exists in tenant "${out.tenant}"; nothing changed.\n`);
  }
  await db.close();
}
