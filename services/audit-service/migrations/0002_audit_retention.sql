-- Retention (seed 004: AUDIT_RETENTION_DAYS): rows older than the retention are removed up to a base
-- (seq, entry_hash) recorded here and, when heads are signed, signed outside PostgreSQL first; the chain
-- verifies from the newest base on.
CREATE TABLE IF NOT EXISTS audit_retention (
  base_seq bigint PRIMARY KEY,
  base_hash text NOT NULL,
  cutoff timestamptz NOT NULL,
  rows_removed bigint NOT NULL,
  pruned_at timestamptz NOT NULL DEFAULT now()
);

-- Still append-only, except the retention's DELETE: it says so in its own transaction
-- (set_config('novapos.audit_retention', 'on', true)), and only the tables' owner may DELETE at all (the
-- service's role has SELECT and INSERT). A mistaken UPDATE or DELETE elsewhere is still refused.
CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('novapos.audit_retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_logs is append-only';
END;
$$;
