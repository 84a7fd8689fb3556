# auth-service's policy (Vault Kubernetes auth role bound to auth-service's ServiceAccount): read-only,
# and only the key tree of its own issuer's SigningKeyRotation, here `novapos/auth` (examples/). It reads
# the key-set document and the active key's secret; it cannot list, write, delete or see other key sets.
# Plus its transit key for MFA secrets (below).
# For another SigningKeyRotation, replace `novapos/auth` with `<namespace>/<name>`.

path "secret/data/novapos/signing-keys/novapos/auth/*" {
  capabilities = ["read"]
}

# TOTP secrets at rest (issue 18): encrypt (creating its own derived key on first use), decrypt and rewrap
# with one transit key. It cannot read, export, rotate or delete the key, nor use any other.
path "transit/encrypt/novapos-auth-mfa" {
  capabilities = ["create", "update"]
}
path "transit/decrypt/novapos-auth-mfa" {
  capabilities = ["update"]
}
path "transit/rewrap/novapos-auth-mfa" {
  capabilities = ["update"]
}
