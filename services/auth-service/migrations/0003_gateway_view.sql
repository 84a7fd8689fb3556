-- Issue 18: least privilege for the integration gateway. It reads API keys through this view only (the
-- columns API-key verification needs, live keys only), never `users` (password hashes, TOTP secrets) or any
-- other table. Roles are created by the privileged bootstrap step (src/storage/roles.ts), not here: a
-- service's own role should not be able to create roles.
CREATE VIEW gateway_api_keys AS
  SELECT id, tenant_id, prefix, key_hash, scopes, expires_at
    FROM api_keys
   WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now());

-- When the bootstrap ran first, the reader group exists already: grant it here (the view's owner may).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'novapos_gateway_reader') THEN
    GRANT SELECT ON gateway_api_keys TO novapos_gateway_reader;
  END IF;
END $$;
