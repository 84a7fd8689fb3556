// The database seam is the service kit's: PostgreSQL (lib/service-kit/db.ts) or embedded PGlite (pglite.ts).
export { connectPostgres, type Db, type Queryable } from '../../../../lib/service-kit/db.js';
export { openPglite } from '../../../../lib/service-kit/pglite.js';
