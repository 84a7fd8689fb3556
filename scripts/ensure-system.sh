#!/usr/bin/env bash
# Installs the Debian packages the harness runs (Redis, PostgreSQL, Prometheus + promtool, Alertmanager)
# when any of their binaries is missing. Nothing is started: the harness starts its own instances.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v setpriv >/dev/null || missing+=(util-linux)

if ((${#missing[@]} == 0)); then
  echo "[system] Redis, PostgreSQL, Prometheus, promtool, Alertmanager: installed" >&2
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
