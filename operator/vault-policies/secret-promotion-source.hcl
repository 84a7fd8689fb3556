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

path "secret/data/novapos/signing-keys/*" {
  capabilities = ["deny"]
}

path "secret/metadata/novapos/signing-keys/*" {
  capabilities = ["deny"]
}
