#!/usr/bin/env bash
# dlopen+dlsym+dlclose throughput under glibc's loader and rld, interleaved rounds.
# Usage: bench/dl/run.sh [RLD] [CYCLES] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rld=${1:-$here/../../target/release/rld}
n=${2:-10000}
rounds=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -shared -fPIC -o "$tmp/libdlcdep.so" "$here/dlc_dep.c"
gcc -O2 -shared -fPIC -o "$tmp/libdlc.so" "$here/dlc_lib.c" -L"$tmp" -ldlcdep -Wl,-rpath,'$ORIGIN'
gcc -O2 -o "$tmp/dlcycle" "$here/dlcycle.c" -ldl
for r in $(seq "$rounds"); do
  g=$(/lib64/ld-linux-x86-64.so.2 "$tmp/dlcycle" "$tmp/libdlc.so" "$n" | sed 's/.*cycles, \([0-9.]*\) us.*/\1/')
  o=$("$rld" "$tmp/dlcycle" "$tmp/libdlc.so" "$n" | sed 's/.*cycles, \([0-9.]*\) us.*/\1/')
  echo "round $r: glibc $g us, rld $o us, ratio $(python3 -c "print(round($o/$g, 3))")"
done
