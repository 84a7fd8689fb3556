// The database seam is the service kit's (lib/service-kit/db.ts): PostgreSQL or embedded PGlite alike.
export { connectPostgres, type Db, openPglite, type Queryable } from '../../../../lib/service-kit/db.js';
