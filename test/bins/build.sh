#!/usr/bin/env bash
# Builds the real components the harness runs (kube-apiserver, kubectl, etcd, OpenBao) from the Go module
# proxy into a cache outside the repository, keyed by version. Skips whatever is already built.
# Prints the directories to use as KEY=VALUE lines on stdout; progress goes to stderr.
#
# `build.sh netpol` builds the node's NetworkPolicy enforcer (kube-network-policies, test/bins/netpol).
# `build.sh kube-router` builds the enforcer the node runs by default (kube-router's firewall,
# test/bins/kube-router): this project's kernel cannot run kube-network-policies (docs/adr/0006).
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
netpol_version="$(awk '$1=="require" && $2=="sigs.k8s.io/kube-network-policies"{print $3} $1=="sigs.k8s.io/kube-network-policies"{print $2}' "$here/netpol/go.mod" | head -1)"
netpol_key="$netpol_version-$(cat "$here/netpol/main.go" "$here/netpol/go.sum" | sha256sum | cut -c1-8)"
kube_router_version="$(awk '$1=="require" && $2=="github.com/cloudnativelabs/kube-router/v2"{print $3} $1=="github.com/cloudnativelabs/kube-router/v2"{print $2}' "$here/kube-router/go.mod" | head -1)"
kube_router_key="$kube_router_version-$(sha256sum "$here/kube-router/go.sum" | cut -c1-8)"
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

# Builds the binaries named after COMPILE into DIR, or finds them there:
#   cached_build DIR WHAT COLD COMPILE BINARY...
# logs "WHAT: cached in DIR" when every BINARY is there; otherwise runs `COMPILE TMP BINARY...`, which writes
# each BINARY into TMP (it may log progress against $started), and moves TMP to DIR once complete, so a
# killed build never leaves a half-filled DIR. COLD says how long a first build takes.
cached_build() {
  local dir=$1 what=$2 cold=$3 compile=$4 name missing=0
  shift 4
  for name in "$@"; do [[ -x "$dir/$name" ]] || missing=1; done
  if ((!missing)); then
    log "$what: cached in $dir"
    return
  fi
  need_go "$what"
  log "building $what into $dir (cold: $cold)"
  local started=$SECONDS tmp
  tmp="$(mktemp -d "$cache/bin/.${dir##*/}-XXXXXX")"
  "$compile" "$tmp" "$@"
  rm -rf "$dir" && mv "$tmp" "$dir"
  log "  done in $((SECONDS - started))s"
}

build_k8s() {
  local dir="$cache/bin/k8s-$k8s_version-etcd-$etcd_version"
  cached_build "$dir" "kube-apiserver, kubectl $k8s_version and etcd $etcd_version" \
    "~3 min build + module download" compile_k8s kube-apiserver kubectl etcd
  echo "KUBEBUILDER_ASSETS=$dir"
}

compile_k8s() {
  local out=$1 ldflags
  ldflags="$(k8s_ldflags)"
  (cd "$here/k8s" && go mod download -x 2>&1 | grep -c '^# get' >/dev/null || true)
  log "  modules ready after $((SECONDS - started))s; compiling kube-apiserver"
  (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
  log "  compiling kubectl ($((SECONDS - started))s)"
  (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl)
  log "  compiling etcd ($((SECONDS - started))s)"
  (cd "$here/k8s" && go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)
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
  local dir="$cache/bin/k8s-node-$k8s_version"
  cached_build "$dir" "kubelet, kube-controller-manager, kube-scheduler, kube-proxy $k8s_version" "~2-4 min each" \
    compile_kube_node kubelet kube-controller-manager kube-scheduler kube-proxy
  echo "KUBE_NODE_BIN=$dir"
}

compile_kube_node() {
  local out=$1 name ldflags
  shift
  ldflags="$(k8s_ldflags)"
  for name in "$@"; do
    log "  compiling $name ($((SECONDS - started))s)"
    (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$out/$name" "k8s.io/kubernetes/cmd/$name")
  done
}

# containerd 2, its runc shim and ctr; static (no cgo) and without the snapshotters this node does not use.
build_containerd() {
  local dir="$cache/bin/containerd-$containerd_version"
  cached_build "$dir" "containerd, containerd-shim-runc-v2, ctr $containerd_version" "~2-3 min" \
    compile_containerd containerd containerd-shim-runc-v2 ctr
  echo "CONTAINERD_BIN=$dir"
}

compile_containerd() {
  local out=$1 name
  shift
  local ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version -X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
  for name in "$@"; do
    log "  compiling $name ($((SECONDS - started))s)"
    (cd "$here/containerd" && CGO_ENABLED=0 go build -trimpath -tags no_btrfs,no_devmapper,no_zfs -ldflags "$ldflags" -o "$out/$name" "github.com/containerd/containerd/v2/cmd/$name")
  done
}

# CoreDNS with the plugins the node needs (kubernetes, cache, health, ready, reload, loadbalance, errors, log;
# no forward). Static: the binary runs alone in a one-layer image.
build_coredns() {
  local dir="$cache/bin/coredns-$coredns_key"
  cached_build "$dir" "CoreDNS $coredns_version" "~2 min" compile_coredns coredns
  echo "COREDNS_BINARY=$dir/coredns"
}

compile_coredns() {
  (cd "$here/coredns" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$coredns_version" -o "$1/coredns" .)
}

# The node's NetworkPolicy enforcer: kube-network-policies' controller in a small command of ours
# (test/bins/netpol/main.go: a kubeconfig instead of in-cluster config, and --cleanup/--check for the node's
# teardown). Static; NFQUEUE and nftables through netlink, so no nft binary is needed.
build_netpol() {
  local dir="$cache/bin/netpol-$netpol_key"
  cached_build "$dir" "kube-network-policies $netpol_version" "~3 min" compile_netpol netpol
  echo "NETPOL_BINARY=$dir/netpol"
}

compile_netpol() {
  (cd "$here/netpol" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/netpol" .)
}

# The node's NetworkPolicy enforcer (`startNode({ networkPolicy: true })`): kube-router's firewall alone
# (iptables + ipset; test/bins/kube-router pins v2.1.0, the one version the Go module proxy serves).
# Static; it runs the machine's iptables and ipset binaries.
build_kube_router() {
  local dir="$cache/bin/kube-router-$kube_router_key"
  cached_build "$dir" "kube-router $kube_router_version" "~5 min" compile_kube_router kube-router
  echo "KUBE_ROUTER_BINARY=$dir/kube-router"
}

compile_kube_router() {
  (cd "$here/kube-router" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$kube_router_version" -o "$1/kube-router" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
}

build_bao() {
  local dir="$cache/bin/openbao-$bao_version"
  cached_build "$dir" "OpenBao $bao_version" "~4 min" compile_bao bao
  echo "BAO_BINARY=$dir/bao"
}

compile_bao() {
  (cd "$here/bao" && go build -trimpath -ldflags "-s -w -X github.com/openbao/openbao/version.fullVersion=${bao_version#v} -X github.com/openbao/openbao/version.GitCommit=${bao_pseudo##*-}" -o "$1/bao" github.com/openbao/openbao)
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
if [[ "$what" == netpol ]]; then
  build_netpol
fi
# Any enforcer built here before (no build): a node's start uses it to clear what a killed one left.
if [[ "$what" == netpol-cached ]]; then
  for f in "$cache"/bin/netpol-*/netpol; do
    if [[ -x "$f" ]]; then
      echo "NETPOL_BINARY=$f"
      break
    fi
  done
  # None built here: nothing to clear, and not an error (a fresh machine starts its node).
  exit 0
fi
if [[ "$what" == kube-router ]]; then
  build_kube_router
fi
