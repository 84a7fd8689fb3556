#!/usr/bin/env bash
# Fetches Apache Kafka's jars (the broker and kafka-tools, version from pom.xml) from Maven Central into the
# cache with `mvn dependency:copy-dependencies`; skips when already there. Prints KAFKA_LIBS=<dir> on stdout,
# progress on stderr. Honoured instead: KAFKA_LIBS pointing at a directory of jars.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${KAFKA_LIBS:-}" ]]; then echo "KAFKA_LIBS=$KAFKA_LIBS"; exit 0; fi
cache="${NOVAPOS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/novapos}"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
key="$version-$(sha256sum "$here/pom.xml" | cut -c1-8)"
dir="$cache/bin/kafka-$key/libs"
if [[ -f "$dir/.complete" ]]; then
  printf '[bins] kafka %s: cached in %s\n' "$version" "$dir" >&2
else
  command -v mvn >/dev/null || { printf '[bins] maven (mvn) is required to fetch Kafka: not found\n' >&2; exit 1; }
  command -v java >/dev/null || { printf '[bins] Java 17+ is required to run Kafka: not found\n' >&2; exit 1; }
  printf '[bins] fetching kafka %s jars from Maven Central into %s\n' "$version" "$dir" >&2
  mkdir -p "$cache/bin"
  tmp="$(mktemp -d "$cache/bin/.kafka-XXXXXX")"
  mvn -q -B -f "$here/pom.xml" -Dmaven.repo.local="$cache/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >&2
  touch "$tmp/libs/.complete"
  rm -rf "$(dirname "$dir")" && mv "$tmp" "$(dirname "$dir")"
fi
echo "KAFKA_LIBS=$dir"
