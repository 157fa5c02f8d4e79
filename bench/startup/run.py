#!/usr/bin/env python3
"""Loader start-up only: spawn -> first constructor, glibc's loader vs rld, interleaved.

    python3 bench/startup/run.py [--rounds N] [--rld RLD] [names...]

Each program of compare.py's corpus runs as `LOADER PROGRAM ARGS` with LD_PRELOAD=stamp.so,
whose constructor reports the TSC (see stamp.c): the time covers exec, mapping, relocation and
libc's initialisation, not the program's own work, which dominates the wall time of node, java
or python and hides the loader's share in compare.py's numbers. rld's launch cache is warm
(a fresh directory, filled by one run of each program with the same preload).
"""
import argparse, os, shlex, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from compare import CORPUS, GLIBC  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=201)
    ap.add_argument("--rld", default=os.path.join(HERE, "../../target/release/rld"))
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    rld = os.path.realpath(a.rld)
    progs = [(n, c) for n, c in CORPUS if not a.names or n in a.names]
    tmp = tempfile.mkdtemp(prefix="rld-ctor")
    so, bench = os.path.join(tmp, "stamp.so"), os.path.join(tmp, "ctorbench")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", so, os.path.join(HERE, "stamp.c")], check=True)
    subprocess.run(["gcc", "-O2", "-o", bench, os.path.join(HERE, "ctorbench.c")], check=True)
    env = dict(os.environ, RLD_LAUNCH_CACHE=os.path.join(tmp, "cache"))
    rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# spawn -> first constructor (LD_PRELOAD stamp), medians of {a.rounds} interleaved rounds; "
          f"rld={rld} (HEAD {rev}), launch cache warm")
    print(f"{'program':<10} {'glibc us':>10} {'rld us':>10} {'ratio':>7}   (p10-p90)")
    for name, cmd in progs:
        argv = shlex.split(cmd)
        subprocess.run([rld] + argv, env=dict(env, LD_PRELOAD=so), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = subprocess.run([bench, str(a.rounds), "0", so, "--", GLIBC] + argv + [":::", rld] + argv,
                             env=env, capture_output=True, text=True)
        lines = out.stdout.splitlines()
        if out.returncode != 0 or len(lines) < 2:
            print(f"{name:<10} failed: {out.stderr.strip()[:200]}")
            continue
        g, r = lines[0].split(), lines[1].split()
        ratio = r[r.index("cmd1") + 1]
        spread = lines[1].split("(p10-p90 ")[1].rstrip(")")
        print(f"{name:<10} {float(g[2]):>10.1f} {float(r[2]):>10.1f} {float(ratio):>7.3f}   ({spread})")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
