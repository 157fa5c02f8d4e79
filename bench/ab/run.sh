#!/usr/bin/env bash
# Spawn A/B of loaders on one command: bench/ab/run.sh ROUNDS LOADER... -- PROGRAM ARGS...
# e.g. bench/ab/run.sh 4000 /lib64/ld-linux-x86-64.so.2 old/rld target/release/rld -- /bin/true
#
# Every loader is copied into a fresh directory first, all at the same moment. How a binary
# sits in the page cache changes its exec time: two copies of the same rld made at different
# times differed by ~27 us per start here (2026-11-22), more than most changes being
# measured. Copies made together start equal. The loader's own path does not matter for
# `LOADER PROGRAM` (glibc's loader included).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=$1; shift
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/spawnab" "$here/spawnab.c"
loaders=()
i=0
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  mkdir "$tmp/$i"; cp "$1" "$tmp/$i/$(basename "$1")"; loaders+=("$tmp/$i/$(basename "$1")")
  echo "$i: $1 -> $tmp/$i" >&2; i=$((i + 1)); shift
done
shift
sync
"$tmp/spawnab" "$rounds" "${loaders[@]}" -- "$@"
