#!/usr/bin/env python3
"""Start-up benchmark: rld against glibc's loader, interleaved, on the same commands.

Usage: bench/compare.py [--mode list|run] [--rounds N] [--callgrind] [--rld PATH] [NAME ...]

mode list: `LOADER --list PROG` for both loaders (issue 2).
mode run:  `LOADER PROG ARGS` (explicit invocation) for both loaders.
Each round runs every (program, loader) pair once in an interleaved order, so machine drift hits
both sides alike; it prints per-program medians and the median of the per-round ratios
rld/glibc. --callgrind adds instruction counts (deterministic) for each side.
The corpus follows ../shared/docs/baseline.md; programs that are not installed are skipped.
"""
import argparse, os, re, shlex, statistics, subprocess, sys, time

GLIBC = "/lib64/ld-linux-x86-64.so.2"
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = [
    ("true", "/usr/bin/true"),
    ("ls", "/usr/bin/ls /usr"),
    ("bash", "/usr/bin/bash -c :"),
    ("perl", "/usr/bin/perl -e 1"),
    ("py-pass", "/usr/bin/python3 -c pass"),
    ("git", "/usr/local/bin/git --version"),
    ("curl", "/usr/bin/curl --version"),
    ("gdb", "/usr/bin/gdb -nx --batch --version"),
    ("clang", "/usr/lib/llvm-14/bin/clang --version"),
    ("lupdate", "/usr/lib/qt5/bin/lupdate -version"),
    ("inkscape", "/usr/bin/inkscape --version"),
    ("ffmpeg", "/usr/bin/ffmpeg -version"),
    ("node", "/usr/bin/node -e 0"),
]


def command(loader, mode, prog):
    argv = shlex.split(prog)
    return [loader, "--list", argv[0]] if mode == "list" else [loader] + argv


def run_once(cmd):
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - t, p.returncode


def instructions(cmd):
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    return int(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["list", "run"], default="list")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--rld", default=os.path.join(HERE, "..", "target", "release", "rld"))
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    rld = os.path.abspath(a.rld)
    progs = [(n, c) for n, c in CORPUS if (not a.names or n in a.names) and os.path.exists(shlex.split(c)[0])]
    times = {(n, l): [] for n, _ in progs for l in ("rld", "glibc")}
    ratios = {n: [] for n, _ in progs}
    for _ in range(a.rounds):
        for n, c in progs:
            r, _ = run_once(command(rld, a.mode, c))
            g, _ = run_once(command(GLIBC, a.mode, c))
            times[(n, "rld")].append(r)
            times[(n, "glibc")].append(g)
            ratios[n].append(r / g)
    print(f"mode={a.mode} rounds={a.rounds} (wall ms, medians; ratio = median of per-round rld/glibc)")
    hdr = f"{'program':10} {'glibc ms':>9} {'rld ms':>9} {'ratio':>7}"
    if a.callgrind:
        hdr += f" {'glibc Ir':>12} {'rld Ir':>12} {'Ir ratio':>8}"
    print(hdr)
    for n, c in progs:
        line = f"{n:10} {statistics.median(times[(n, 'glibc')])*1e3:9.3f} {statistics.median(times[(n, 'rld')])*1e3:9.3f} {statistics.median(ratios[n]):7.3f}"
        if a.callgrind:
            gi, ri = instructions(command(GLIBC, a.mode, c)), instructions(command(rld, a.mode, c))
            if gi and ri:
                line += f" {gi:12d} {ri:12d} {ri/gi:8.3f}"
        print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
