# The operator's policy on a SOURCE Vault of SecretPromotion (the `local` connection or any connection a
# promotion reads from). Read-only: the promoted tree (here `novapos/`) and the override paths; list for
# prefix promotions. No write, no delete, nothing else. Signing keys are never read by a promotion: the
# deny below makes that a Vault guarantee too, not only the controller's.

path "secret/data/novapos/*" {
  capabilities = ["read"]
}

path "secret/metadata/novapos/*" {
  capabilities = ["read", "list"]
}

# Signing keys are never promoted: denied on every KV v2 path form, whatever else grants.
path "secret/data/novapos/signing-keys/*" {
  capabilities = ["deny"]
}

path "secret/metadata/novapos/signing-keys/*" {
  capabilities = ["deny"]
}

path "secret/delete/novapos/signing-keys/*" {
  capabilities = ["deny"]
}

path "secret/undelete/novapos/signing-keys/*" {
  capabilities = ["deny"]
}

path "secret/destroy/novapos/signing-keys/*" {
  capabilities = ["deny"]
}

path "secret/subkeys/novapos/signing-keys/*" {
  capabilities = ["deny"]
}

# The folder itself: no listing of which namespaces have signing keys.
path "secret/metadata/novapos/signing-keys" {
  capabilities = ["deny"]
}
