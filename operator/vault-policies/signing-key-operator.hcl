# The operator's policy for SigningKeyRotation (Vault Kubernetes auth role bound to the operator's
# ServiceAccount). Least privilege: only the signing-key tree of the KV v2 mount `secret`, and within it
# only what the controller does: write key secrets and key-set documents (check-and-set), read them back,
# list a resource's keys, destroy versions and delete metadata of removed and revoked keys.
# No `sudo`, no `sys/`, nothing outside novapos/signing-keys/.

path "secret/data/novapos/signing-keys/*" {
  capabilities = ["create", "read", "update"]
}

path "secret/metadata/novapos/signing-keys/*" {
  capabilities = ["read", "list", "delete"]
}

path "secret/destroy/novapos/signing-keys/*" {
  capabilities = ["update"]
}
