-- Issue 18: lockout by (account, client address), session-bound tokens, refresh reuse interval, bootstrap token.

-- Failed sign-ins per (tenant, sha256 of the e-mail, client address); source '' is the account-wide row.
-- `failures` decays: a failure after AUTH_LOCKOUT_FAILURE_RESET_SECONDS of quiet starts again at 1.
CREATE TABLE auth_login_failures (
  tenant_id       text NOT NULL,
  subject         text NOT NULL,
  source          text NOT NULL,
  failures        integer NOT NULL,
  locked_until    timestamptz,
  last_failure_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, subject, source)
);

-- Addresses an account signed in from (the account-wide lock never applies to them).
CREATE TABLE auth_known_sources (
  tenant_id       text NOT NULL,
  subject         text NOT NULL,
  source          text NOT NULL,
  last_success_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, subject, source)
);

DROP TABLE auth_login_throttle;

-- auth_time: the primary authentication behind the session (the `auth_time` claim; a refresh keeps it).
-- grace_used_at: this (used) token was accepted once more within the reuse interval.
ALTER TABLE auth_refresh_tokens ADD COLUMN auth_time timestamptz;
ALTER TABLE auth_refresh_tokens ADD COLUMN grace_used_at timestamptz;
UPDATE auth_refresh_tokens SET auth_time = created_at;
ALTER TABLE auth_refresh_tokens ALTER COLUMN auth_time SET NOT NULL;

-- The session (refresh family) that began a pending MFA enrollment: only that session completes it.
ALTER TABLE users ADD COLUMN mfa_pending_session text;

-- Bootstrap tokens (sha256 hex) for POST /register-first: issued by `npm run auth:seed -- --bootstrap-token`
-- (used_at NULL until spent), or the one from AUTH_BOOTSTRAP_TOKEN(_FILE), recorded when spent. Each works once.
CREATE TABLE auth_bootstrap_tokens (
  token_hash text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at    timestamptz
);
