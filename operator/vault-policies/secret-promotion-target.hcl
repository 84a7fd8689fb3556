# The operator's policy on a TARGET Vault of SecretPromotion (e.g. the `staging` or `prod` connection):
# read (to diff and check-and-set) and write only the promoted tree, write custom_metadata (provenance),
# soft-delete (deletionPolicy Delete, rollback to "absent"). Nothing under novapos/signing-keys/, no
# destroy, no metadata delete. Give each environment its own token or Kubernetes auth role with this
# policy; a token for staging must not be able to write prod.

path "secret/data/novapos/*" {
  capabilities = ["create", "update", "read"]
}

path "secret/metadata/novapos/*" {
  capabilities = ["create", "update", "read", "list"]
}

path "secret/delete/novapos/*" {
  capabilities = ["update"]
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
