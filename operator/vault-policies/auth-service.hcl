# auth-service's policy (Vault Kubernetes auth role bound to auth-service's ServiceAccount): read-only,
# and only the key tree of its own issuer's SigningKeyRotation, here `novapos/auth` (examples/). It reads
# the key-set document and the active key's secret; it cannot list, write, delete or see other key sets.
# For another SigningKeyRotation, replace `novapos/auth` with `<namespace>/<name>`.

path "secret/data/novapos/signing-keys/novapos/auth/*" {
  capabilities = ["read"]
}
