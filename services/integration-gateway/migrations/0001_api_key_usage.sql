-- integration-gateway schema, version 1 (runbook 001: 2001_add_api_key_usage_table). Applied by
-- src/storage/migrate.ts, recorded in gateway_schema_migrations (auth-service has its own table).
-- One row per API key, per replica, per flush window: request counts since the previous flush.
CREATE TABLE IF NOT EXISTS api_key_usage (
  id            bigserial PRIMARY KEY,
  api_key_id    uuid NOT NULL,
  tenant_id     text NOT NULL,
  key_prefix    text NOT NULL,
  window_start  timestamptz NOT NULL,
  window_end    timestamptz NOT NULL,
  requests      bigint NOT NULL CHECK (requests >= 0),
  rejected      bigint NOT NULL CHECK (rejected >= 0),
  last_seen_at  timestamptz NOT NULL,
  replica_id    text NOT NULL,
  recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS api_key_usage_key_window_idx ON api_key_usage (api_key_id, window_end);
CREATE INDEX IF NOT EXISTS api_key_usage_tenant_window_idx ON api_key_usage (tenant_id, window_end);
