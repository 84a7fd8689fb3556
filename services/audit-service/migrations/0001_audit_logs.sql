-- The audit log (issue 20): append-only and hash-chained. One global chain: row n's prev_hash is row n-1's
-- entry_hash and entry_hash covers prev_hash and the row's fields (services/audit-service/src/domain/chain.ts).
-- `payload` is the event envelope exactly as received (text, not jsonb: jsonb re-orders keys and the hash
-- covers the bytes).
CREATE TABLE IF NOT EXISTS audit_logs (
  seq bigint PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  topic text NOT NULL,
  event_type text NOT NULL,
  schema_version integer NOT NULL,
  tenant_id text,
  user_id text,
  actor_role text,
  trace_id text,
  producer text,
  producer_seq bigint,
  occurred_at timestamptz NOT NULL,
  chained_at timestamptz NOT NULL DEFAULT now(),
  payload text NOT NULL,
  prev_hash text NOT NULL,
  entry_hash text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_logs_tenant_time ON audit_logs (tenant_id, occurred_at);
CREATE INDEX IF NOT EXISTS audit_logs_type_time ON audit_logs (event_type, occurred_at);
CREATE INDEX IF NOT EXISTS audit_logs_user_time ON audit_logs (user_id, occurred_at);
CREATE INDEX IF NOT EXISTS audit_logs_producer_seq ON audit_logs (producer, producer_seq);

-- Append-only in the schema too: UPDATE and DELETE are refused. (The audit-service's own role gets INSERT
-- and SELECT only; this trigger also stops a mistaken script run with a broader role.)
CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs is append-only';
END;
$$;
DROP TRIGGER IF EXISTS audit_logs_append_only ON audit_logs;
CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only();
