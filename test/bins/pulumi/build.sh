#!/usr/bin/env bash
# Builds what a real `pulumi preview/up/destroy` needs, from the Go module proxy, into a cache outside the
# repository keyed by version; skips whatever is already built. Progress goes to stderr; stdout gets one
# line, PULUMI_BIN_DIR=<dir>, a directory holding:
#   pulumi                      the CLI (github.com/pulumi/pulumi/pkg/v3 cmd/pulumi), pinned in cli/go.mod
#   pulumi-language-nodejs      a minimal Node.js language host (cli/cmd/pulumi-language-nodejs): the real
#                               one is a separate Go module the proxy refuses (403); see its main.go
#   pulumi-resource-kubernetes  the Kubernetes provider plugin, pinned in provider/go.mod
# Put the directory first on PATH: the engine then finds the language host next to `pulumi` and the
# provider as an "ambient" plugin, and downloads nothing.
#
# Honoured instead of building: PULUMI_BIN_DIR (a directory with the three binaries).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${NOVAPOS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/novapos}"
# The version a go.mod requires of a module, on a `require m v` line or inside a `require (...)` block.
required() { awk -v m="$1" '$1=="require" && $2==m {print $3; exit} $1==m {print $2; exit}' "$2"; }
pulumi_version="$(required github.com/pulumi/pulumi/pkg/v3 "$here/cli/go.mod")"
provider_module=github.com/pulumi/pulumi-kubernetes/provider/v4
provider_pseudo="$(required "$provider_module" "$here/provider/go.mod")"
[[ -n "$pulumi_version" && -n "$provider_pseudo" ]] || { echo "[pulumi-bins] cannot read the pinned versions from cli/go.mod and provider/go.mod" >&2; exit 1; }
# The provider has no tagged module versions; its version is the pseudo-version without the leading v.
provider_version="${provider_pseudo#v}"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY="${GOPROXY:-https://proxy.golang.org}"
# The checksum database answers 404 for pulumi/pkg and several pulumi modules: go.sum, committed, pins them.
export GONOSUMDB="${GONOSUMDB:-github.com/pulumi}"
export GOCACHE="${GOCACHE:-$cache/go-build}"

log() { printf '[pulumi-bins] %s\n' "$*" >&2; }

if [[ -n "${PULUMI_BIN_DIR:-}" ]]; then
  log "using PULUMI_BIN_DIR=$PULUMI_BIN_DIR"
  echo "PULUMI_BIN_DIR=$PULUMI_BIN_DIR"
  exit 0
fi
command -v go >/dev/null || { log "Go is required to build the Pulumi CLI and the Kubernetes provider: not found"; exit 1; }

dir="$cache/bin/pulumi-$pulumi_version-kubernetes-${provider_version##*-}"
mkdir -p "$cache/bin"
# Several test processes may ask at once: one builds, the others wait and then find the cache.
exec 9>"$cache/bin/.pulumi-build.lock"
flock 9

build_cli() {
  if [[ -x "$dir/pulumi" && -x "$dir/pulumi-language-nodejs" ]]; then
    log "pulumi $pulumi_version + language host: cached in $dir"
    return
  fi
  log "building pulumi $pulumi_version and pulumi-language-nodejs into $dir (cold: module download + ~10 min compile on 2 cores)"
  local started=$SECONDS tmp
  tmp="$(mktemp -d "$cache/bin/.pulumi-cli-XXXXXX")"
  (cd "$here/cli" && nice -n 15 go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
    -o "$tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  log "  pulumi compiled after $((SECONDS - started))s; compiling pulumi-language-nodejs"
  (cd "$here/cli" && nice -n 15 go build -trimpath -ldflags "-s -w -X main.version=${pulumi_version#v}" \
    -o "$tmp/pulumi-language-nodejs" ./cmd/pulumi-language-nodejs)
  mkdir -p "$dir"
  mv "$tmp/pulumi" "$tmp/pulumi-language-nodejs" "$dir/"
  rmdir "$tmp"
  log "  done in $((SECONDS - started))s"
}

build_provider() {
  if [[ -x "$dir/pulumi-resource-kubernetes" ]]; then
    log "pulumi-resource-kubernetes $provider_version: cached in $dir"
    return
  fi
  command -v node >/dev/null || { log "node is required to prepare the provider's embedded schema"; exit 1; }
  log "building pulumi-resource-kubernetes $provider_version into $dir (cold: module download + ~8 min compile on 2 cores)"
  local started=$SECONDS tmp src
  tmp="$(mktemp -d "$cache/bin/.pulumi-k8s-XXXXXX")"
  # The provider's main package embeds schema-embed.json and terraform-mapping-embed.json, which its
  # repository generates (go:generate ./generate.go: the schema with the version set) and does not ship in
  # the module zip. Assemble the main package in a scratch copy of this module and generate them here.
  src="$(cd "$here/provider" && go mod download -json "$provider_module@$provider_pseudo" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -f "$src/cmd/pulumi-resource-kubernetes/main.go" ]] || { log "no cmd/pulumi-resource-kubernetes in $src"; exit 1; }
  mkdir -p "$tmp/src"
  cp "$here/provider/go.mod" "$here/provider/go.sum" "$tmp/src/"
  cp "$src/cmd/pulumi-resource-kubernetes/main.go" "$tmp/src/main.go"
  chmod u+w "$tmp/src/main.go"
  VERSION="$provider_version" node -e '
    const fs = require("node:fs");
    const [schema, mapping, outDir] = process.argv.slice(1);
    const spec = JSON.parse(fs.readFileSync(schema, "utf8"));
    spec.version = process.env.VERSION;
    fs.writeFileSync(outDir + "/schema-embed.json", JSON.stringify(spec));
    fs.writeFileSync(outDir + "/terraform-mapping-embed.json", JSON.stringify(JSON.parse(fs.readFileSync(mapping, "utf8"))));
  ' "$src/cmd/pulumi-resource-kubernetes/schema.json" "$src/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$tmp/src"
  (cd "$tmp/src" && nice -n 15 go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$provider_version" \
    -o "$tmp/pulumi-resource-kubernetes" .)
  mkdir -p "$dir"
  mv "$tmp/pulumi-resource-kubernetes" "$dir/"
  rm -rf "$tmp"
  log "  done in $((SECONDS - started))s"
}

what="${1:-all}"
if [[ "$what" == all || "$what" == cli ]]; then build_cli; fi
if [[ "$what" == all || "$what" == provider ]]; then build_provider; fi
echo "PULUMI_BIN_DIR=$dir"
