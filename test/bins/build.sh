#!/usr/bin/env bash
# Builds the real components the harness runs (kube-apiserver, kubectl, etcd, OpenBao) from the Go module
# proxy into a cache outside the repository, keyed by version. Skips whatever is already built.
# Prints the directories to use as KEY=VALUE lines on stdout; progress goes to stderr.
#
# `build.sh node` builds the Kubernetes node's components: kubelet, kube-controller-manager, kube-scheduler
# and kube-proxy (the apiserver's module and version), containerd 2 with its runc shim and ctr
# (test/bins/containerd), and CoreDNS with only the plugins the node needs (test/bins/coredns). All Go
# builds share one build cache ($GOCACHE), so the node's Kubernetes binaries reuse the apiserver's packages.
#
# Honoured instead of building: KUBEBUILDER_ASSETS (a directory with kube-apiserver, etcd, kubectl) and
# BAO_BINARY (an OpenBao or Vault server binary). VAULT_ADDR + VAULT_TOKEN skip OpenBao in the harness.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${NOVAPOS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/novapos}"
k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2}' "$here/k8s/go.mod")"
etcd_version="$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2}' "$here/k8s/go.mod")"
bao_pseudo="$(awk '$1=="require" && $2=="github.com/openbao/openbao"{print $3}' "$here/bao/go.mod")"
bao_version="v2.4.0-${bao_pseudo##*-}"
containerd_version="$(awk '$1=="require" && $2=="github.com/containerd/containerd/v2"{print $3}' "$here/containerd/go.mod")"
coredns_version="$(awk '$1=="require" && $2=="github.com/coredns/coredns"{print $3}' "$here/coredns/go.mod")"
# The plugin set is part of what is built: a change to main.go is a new cache entry.
coredns_key="$coredns_version-$(sha256sum "$here/coredns/main.go" | cut -c1-8)"

export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY="${GOPROXY:-https://proxy.golang.org}"
# The checksum database does not answer for several OpenBao modules (404): go.sum, committed, pins them.
export GONOSUMDB="${GONOSUMDB:-github.com/openbao}"
# The build cache lives beside the binaries so a CI machine that keeps ~/.cache keeps both.
export GOCACHE="${GOCACHE:-$cache/go-build}"

log() { printf '[bins] %s\n' "$*" >&2; }

need_go() {
  command -v go >/dev/null || { log "Go is required to build $1 (go 1.26 is on these machines): not found"; exit 1; }
}

build_k8s() {
  local dir="$cache/bin/k8s-$k8s_version-etcd-$etcd_version"
  if [[ -x "$dir/kube-apiserver" && -x "$dir/kubectl" && -x "$dir/etcd" ]]; then
    log "kube-apiserver, kubectl $k8s_version and etcd $etcd_version: cached in $dir"
  else
    need_go kube-apiserver
    log "building kube-apiserver, kubectl $k8s_version and etcd $etcd_version into $dir (cold: ~3 min build + module download)"
    local started=$SECONDS tmp
    tmp="$(mktemp -d "$cache/bin/.k8s-XXXXXX")"
    local ldflags
    ldflags="$(k8s_ldflags)"
    (cd "$here/k8s" && go mod download -x 2>&1 | grep -c '^# get' >/dev/null || true)
    log "  modules ready after $((SECONDS - started))s; compiling kube-apiserver"
    (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
    log "  compiling kubectl ($((SECONDS - started))s)"
    (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl)
    log "  compiling etcd ($((SECONDS - started))s)"
    (cd "$here/k8s" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
    rm -rf "$dir" && mv "$tmp" "$dir"
    log "  done in $((SECONDS - started))s"
  fi
  echo "KUBEBUILDER_ASSETS=$dir"
}

k8s_ldflags() {
  local minor="${k8s_version#v1.}"; minor="${minor%%.*}"
  local vpkg ldflags="-s -w"
  for vpkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $vpkg.gitVersion=$k8s_version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
  done
  echo "$ldflags"
}

# kubelet, kube-controller-manager, kube-scheduler, kube-proxy: the apiserver's module, version and flags.
build_kube_node() {
  local dir="$cache/bin/k8s-node-$k8s_version" name
  local names=(kubelet kube-controller-manager kube-scheduler kube-proxy)
  local have=1
  for name in "${names[@]}"; do [[ -x "$dir/$name" ]] || have=0; done
  if ((have)); then
    log "kubelet, kube-controller-manager, kube-scheduler, kube-proxy $k8s_version: cached in $dir"
  else
    need_go kubelet
    log "building kubelet, kube-controller-manager, kube-scheduler, kube-proxy $k8s_version into $dir (cold: ~2-4 min each)"
    local started=$SECONDS tmp ldflags
    tmp="$(mktemp -d "$cache/bin/.k8s-node-XXXXXX")"
    ldflags="$(k8s_ldflags)"
    for name in "${names[@]}"; do
      log "  compiling $name ($((SECONDS - started))s)"
      (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$tmp/$name" "k8s.io/kubernetes/cmd/$name")
    done
    rm -rf "$dir" && mv "$tmp" "$dir"
    log "  done in $((SECONDS - started))s"
  fi
  echo "KUBE_NODE_BIN=$dir"
}

# containerd 2, its runc shim and ctr; static (no cgo) and without the snapshotters this node does not use.
build_containerd() {
  local dir="$cache/bin/containerd-$containerd_version" name
  local names=(containerd containerd-shim-runc-v2 ctr)
  local have=1
  for name in "${names[@]}"; do [[ -x "$dir/$name" ]] || have=0; done
  if ((have)); then
    log "containerd $containerd_version: cached in $dir"
  else
    need_go containerd
    log "building containerd, containerd-shim-runc-v2, ctr $containerd_version into $dir (cold: ~2-3 min)"
    local started=$SECONDS tmp
    tmp="$(mktemp -d "$cache/bin/.containerd-XXXXXX")"
    local ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version -X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
    for name in "${names[@]}"; do
      log "  compiling $name ($((SECONDS - started))s)"
      (cd "$here/containerd" && CGO_ENABLED=0 go build -trimpath -tags no_btrfs,no_devmapper,no_zfs -ldflags "$ldflags" -o "$tmp/$name" "github.com/containerd/containerd/v2/cmd/$name")
    done
    rm -rf "$dir" && mv "$tmp" "$dir"
    log "  done in $((SECONDS - started))s"
  fi
  echo "CONTAINERD_BIN=$dir"
}

build_coredns() {
  local dir="$cache/bin/coredns-$coredns_key"
  if [[ -x "$dir/coredns" ]]; then
    log "CoreDNS $coredns_version: cached in $dir"
  else
    need_go CoreDNS
    log "building CoreDNS $coredns_version (kubernetes, cache, health, ready, reload, loadbalance, errors, log; no forward) into $dir (cold: ~2 min)"
    local started=$SECONDS tmp
    tmp="$(mktemp -d "$cache/bin/.coredns-XXXXXX")"
    # Static: the binary runs alone in a one-layer image.
    (cd "$here/coredns" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$coredns_version" -o "$tmp/coredns" .)
    rm -rf "$dir" && mv "$tmp" "$dir"
    log "  done in $((SECONDS - started))s"
  fi
  echo "COREDNS_BINARY=$dir/coredns"
}

build_bao() {
  local dir="$cache/bin/openbao-$bao_version"
  if [[ -x "$dir/bao" ]]; then
    log "OpenBao $bao_version: cached in $dir"
  else
    need_go OpenBao
    log "building OpenBao $bao_version into $dir (cold: ~4 min)"
    local started=$SECONDS tmp
    tmp="$(mktemp -d "$cache/bin/.bao-XXXXXX")"
    (cd "$here/bao" && go build -trimpath -ldflags "-s -w -X github.com/openbao/openbao/version.fullVersion=${bao_version#v} -X github.com/openbao/openbao/version.GitCommit=${bao_pseudo##*-}" -o "$tmp/bao" github.com/openbao/openbao)
    rm -rf "$dir" && mv "$tmp" "$dir"
    log "  done in $((SECONDS - started))s"
  fi
  echo "BAO_BINARY=$dir/bao"
}

mkdir -p "$cache/bin"
# Several test processes may ask at once: one builds, the others wait and then find the cache.
exec 9>"$cache/bin/.build.lock"
flock 9
what="${1:-all}"
if [[ "$what" == all || "$what" == k8s ]]; then
  if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"; echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  else
    build_k8s
  fi
fi
if [[ "$what" == all || "$what" == prometheus-operator-crds ]]; then
  # Pinned by test/bins/prometheus-operator/go.mod + go.sum; the module zip carries the CRD YAML.
  dir="$(cd "$here/prometheus-operator" && go mod download -json github.com/prometheus-operator/prometheus-operator | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$dir/example/prometheus-operator-crd" ]] || { log "prometheus-operator module has no example/prometheus-operator-crd"; exit 1; }
  log "prometheus-operator CRDs: $dir/example/prometheus-operator-crd"
  echo "PROMETHEUS_OPERATOR_CRDS=$dir/example/prometheus-operator-crd"
fi
if [[ "$what" == all || "$what" == bao ]]; then
  if [[ -n "${BAO_BINARY:-}" ]]; then
    log "using BAO_BINARY=$BAO_BINARY"; echo "BAO_BINARY=$BAO_BINARY"
  else
    build_bao
  fi
fi
if [[ "$what" == all || "$what" == node ]]; then
  if [[ -n "${KUBE_NODE_BIN:-}" ]]; then
    log "using KUBE_NODE_BIN=$KUBE_NODE_BIN"; echo "KUBE_NODE_BIN=$KUBE_NODE_BIN"
  else
    build_kube_node
  fi
  build_containerd
  build_coredns
fi
