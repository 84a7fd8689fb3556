#!/usr/bin/env bash
# Installs the Debian packages the harness runs (Redis, PostgreSQL, Prometheus + promtool, Alertmanager)
# when any of their binaries is missing. Nothing is started: the harness starts its own instances.
# `ensure-system.sh node` instead checks what the harness's Kubernetes node needs from Debian: runc, the CNI
# plugins, iptables, ipset (kube-router's NetworkPolicy firewall) and a static busybox (the sandbox image and
# the test images are made from it).
set -euo pipefail

missing=()
if [[ "${1:-}" == node ]]; then
  what="runc, CNI plugins, iptables, ipset, busybox-static, openssl, debootstrap"
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v ip6tables >/dev/null || missing+=(iptables)
  command -v ipset >/dev/null || missing+=(ipset)
  # The static build: the images copy it alone, with no shared libraries beside it.
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || missing+=(busybox-static)
  command -v openssl >/dev/null || missing+=(openssl)
  # The images' Debian base (test/harness/node/base-image.ts).
  command -v debootstrap >/dev/null || missing+=(debootstrap)
else
  what="Redis, PostgreSQL, Prometheus, promtool, Alertmanager, zsh"
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  command -v setpriv >/dev/null || missing+=(util-linux)
  # The plugin's completion is tested in zsh too (test/cli/zsh-completion.int.test.ts).
  command -v zsh >/dev/null || missing+=(zsh)
fi

if ((${#missing[@]} == 0)); then
  echo "[system] $what: installed" >&2
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "[system] need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo -n"
fi
echo "[system] installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
# Debian's packages start services when an init system runs; the harness wants none of them.
for svc in redis-server postgresql prometheus prometheus-alertmanager; do
  $sudo service "$svc" stop >/dev/null 2>&1 || true
done
echo "[system] installed" >&2
