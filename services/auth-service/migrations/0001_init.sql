-- auth-service schema, version 1. Applied in one transaction by src/storage/migrate.ts.

CREATE TABLE tenants (
  id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name        text NOT NULL,
  -- Every account of the tenant must use MFA (runbook 001 require_mfa).
  require_mfa boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id                     uuid PRIMARY KEY,
  tenant_id              text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- Lower-cased, trimmed.
  email                  text NOT NULL,
  -- argon2id PHC string.
  password_hash          text NOT NULL,
  roles                  text[] NOT NULL DEFAULT '{}',
  -- Base32 TOTP secret once enrolled (column names as in the runbook 000 smoke test).
  mfa_secret             text,
  mfa_enrolled_at        timestamptz,
  mfa_failed_attempts    integer NOT NULL DEFAULT 0,
  -- Last accepted TOTP time step: a code for this step or an earlier one is a replay.
  mfa_last_time_step     bigint,
  -- Secret of an enrollment in progress, promoted to mfa_secret when a code for it is verified.
  mfa_pending_secret     text,
  mfa_pending_created_at timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  last_login_at          timestamptz,
  UNIQUE (tenant_id, email)
);

-- Failed-login state per (tenant, sha256 of the e-mail), for existing and unknown accounts alike, so
-- lockout behaves the same whether or not the account exists.
CREATE TABLE auth_login_throttle (
  tenant_id       text NOT NULL,
  subject         text NOT NULL,
  failures        integer NOT NULL DEFAULT 0,
  locked_until    timestamptz,
  last_failure_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, subject)
);

CREATE TABLE auth_recovery_codes (
  id         uuid PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- sha256 hex of the normalised code (80 random bits: a slow hash adds nothing).
  code_hash  text NOT NULL,
  used_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, code_hash)
);

-- One row per refresh token; a family is one login session. Tokens are stored as sha256 hex.
CREATE TABLE auth_refresh_tokens (
  id                uuid PRIMARY KEY,
  family_id         uuid NOT NULL,
  user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  tenant_id         text NOT NULL,
  token_hash        text NOT NULL UNIQUE,
  amr               text[] NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  expires_at        timestamptz NOT NULL,
  family_expires_at timestamptz NOT NULL,
  -- Set when the token was exchanged for the next one; presenting it again is reuse.
  used_at           timestamptz,
  replaced_by       uuid,
  revoked_at        timestamptz,
  revoked_reason    text
);
CREATE INDEX auth_refresh_tokens_user_idx ON auth_refresh_tokens (user_id, revoked_at);
CREATE INDEX auth_refresh_tokens_family_idx ON auth_refresh_tokens (family_id);

-- API keys, validated by the integration gateway from this database (docs/auth-service.md, "API keys").
-- Key format npk_<prefix>_<secret>; `prefix` finds the row, `key_hash` (argon2id of the whole key) proves it.
CREATE TABLE api_keys (
  id           uuid PRIMARY KEY,
  tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
  name         text NOT NULL,
  prefix       text NOT NULL UNIQUE,
  key_hash     text NOT NULL,
  scopes       text[] NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);
