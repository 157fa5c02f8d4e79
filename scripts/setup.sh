#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian 12 machine. Idempotent and quiet when all is there.
set -euo pipefail
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
command -v gdb >/dev/null || need+=(gdb)
command -v patchelf >/dev/null || need+=(patchelf)
command -v readelf >/dev/null || need+=(binutils)
command -v valgrind >/dev/null || need+=(valgrind)
command -v strace >/dev/null || need+=(strace)
[ -e /usr/lib/debug/.build-id ] && dpkg -s libc6-dbg >/dev/null 2>&1 || need+=(libc6-dbg)
# The heavy real programs of the oracle and benchmark corpus (issue 4).
[ -x /usr/lib/llvm-14/bin/clang ] || need+=(clang-14)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v inkscape >/dev/null || need+=(inkscape)
[ -x /usr/lib/qt5/bin/lupdate ] || need+=(qttools5-dev-tools)
# lld links a fixture whose RELATIVE targets hold 0 instead of their addends.
[ -x /usr/lib/llvm-14/bin/ld.lld ] || need+=(lld-14)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install: ${need[*]}" >&2
  fi
fi
