# The audit-service's policy (Vault Kubernetes auth role `audit-service`, bound to the audit-service's
# ServiceAccount): sign and verify chain heads with its one transit key, and keep each signed head as a KV v2
# checkpoint outside PostgreSQL (docs/audit-service.md, "Signed heads"). Create, never update: even this
# service's own token cannot rewrite a checkpoint once written. No delete, no destroy, no other secret or key.

path "transit/sign/novapos-audit-chain" {
  capabilities = ["update"]
}
path "transit/verify/novapos-audit-chain" {
  capabilities = ["update"]
}

path "secret/data/novapos/audit-checkpoints/*" {
  capabilities = ["create", "read"]
}
# verify lists the checkpoints.
path "secret/metadata/novapos/audit-checkpoints/*" {
  capabilities = ["list"]
}
