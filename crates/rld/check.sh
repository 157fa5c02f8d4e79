#!/bin/sh
# Builds rld (debug + release), runs its tests in both profiles and prints the binary
# facts the no_std recipe cares about: static-pie, no PT_TLS, no %fs, _start GOT-free, size.
set -eu
cd "$(dirname "$0")/../.."
T=${CARGO_TARGET_DIR:-target}
cargo test -p rld
cargo test -p rld --release
for p in debug release; do
    b=$T/$p/rld
    echo "== $p: $b"
    readelf -lW "$b" | grep -E ' TLS | INTERP ' && { echo "FAIL: PT_TLS/PT_INTERP"; exit 1; }
    n=$(objdump -d "$b" | grep -c '%fs' || true)
    [ "$n" = 0 ] || { echo "FAIL: $n %fs references"; exit 1; }
    objdump -d --no-show-raw-insn -M intel "$b" | awk '/<_start>:$/,/^$/' |
        grep -E '\bcall\b|\[rip' | grep -v 'lea ' | grep -v 'call .*5entry' &&
        { echo "FAIL: GOT-indirect access in _start"; exit 1; }
    strip -o "$T/$p/rld.stripped" "$b"
    echo "size: $(stat -c %s "$b") B, stripped $(stat -c %s "$T/$p/rld.stripped") B"
done
echo OK
