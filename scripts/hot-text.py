#!/usr/bin/env python3
"""Regenerates crates/rld/layout/hot.txt: the functions rld runs while starting programs,
which build.rs links first in .text (see there).

    python3 scripts/hot-text.py [RLD]      # RLD: a release build (default target/release/rld)

Runs a small corpus under callgrind (valgrind and patchelf needed) and lists every rld
function executed, those of the smallest start-ups (`true` in both modes) first, by
symbol name (the linker orders sections by symbol). A stale entry only costs layout: the
function lands after the listed ones.
"""

import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/rld/layout/hot.txt")
COLD = os.path.join(ROOT, "crates/rld/cold.ld")


def corpus(rld, tmp):
    true = os.path.join(tmp, "true")
    shutil.copy("/bin/true", true)
    subprocess.run(["patchelf", "--set-interpreter", rld, true], check=True)
    # Each `true` twice: the first launch records, the second replays the record (the
    # usual case); `main` groups by these four runs.
    runs = [
        [true],
        [true],
        [rld, "/bin/true"],
        [rld, "/bin/true"],
        [rld, "/bin/ls", "/"],
        [rld, "/bin/ls", "/"],
        [rld, "/usr/bin/python3", "-c", "import json"],
    ]
    clang = shutil.which("clang-14")
    if clang:
        # The first launch records, the second replays the record.
        runs += [[rld, clang, "--version"], [rld, clang, "--version"]]
    return runs


# Code chosen by the CPU (cache-info decoding per vendor, the lazy-binding trampoline per
# XSAVE flavour): valgrind's emulated CPU takes one branch, the machine running rld may take
# another, so every member of a family is listed with the one that ran.
FAMILIES = [r"^_ZN7rld_cpu5cache\d+handle_", r"^_ZN3rld2rt4lazy\d+_dl_runtime_resolve_"]


def executed(profile, rld):
    """Names of the functions of object `rld` executed in a callgrind profile."""
    names, ids, obs, cur = {}, set(), {}, None
    with open(profile) as f:
        for line in f:
            m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                if m.group(3):
                    obs[m.group(2)] = m.group(3)
                if m.group(1) == "ob":
                    cur = obs.get(m.group(2))
                continue
            m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                if m.group(3):
                    names[m.group(2)] = m.group(3)
                if m.group(1) == "fn" and cur and os.path.realpath(cur) == rld:
                    ids.add(m.group(2))
    return [names[i] for i in ids if i in names]


def main():
    rld = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/rld"))
    nm = subprocess.run(["nm", "-S", "--defined-only", rld], capture_output=True, text=True, check=True).stdout
    addr = {}
    for line in nm.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tT":
            addr[p[3]] = int(p[0], 16)

    # Functions cold.ld already places apart (prefixes of its `*(.text.NAME*)` rules).
    with open(COLD) as f:
        cold = re.findall(r"\*\(\.text\.([^)*]*)\*?\)", f.read())
    # The entry point (naked asm, which callgrind does not name) comes first.
    order, seen = ["_start"], {"_start"}
    with tempfile.TemporaryDirectory() as tmp:
        # The cache in its default place (under XDG_CACHE_HOME), as most launches find it:
        # naming it with RLD_LAUNCH_CACHE would skip the code that makes the default path.
        env = {k: v for k, v in os.environ.items() if k != "RLD_LAUNCH_CACHE"}
        env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
        # Debian's `valgrind` is a script that adds /usr/lib/debug to LD_LIBRARY_PATH, which
        # sends every library search through a dozen missing directories first: code no
        # ordinary launch runs. Its `valgrind.bin` is valgrind itself.
        vg = shutil.which("valgrind.bin") or "valgrind"
        runs = []
        for i, cmd in enumerate(corpus(rld, tmp)):
            out = os.path.join(tmp, f"cg.{i}")
            subprocess.run(
                [vg, "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}"] + cmd,
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            fns = set()
            for n in executed(out, rld):
                if n not in addr:
                    continue
                fam = [f for f in FAMILIES if re.match(f, n)]
                fns.update([n] + [a for a in addr if fam and re.match(fam[0], a)])
            runs.append({n for n in fns if not any(n.startswith(c) for c in cold)})
    # Groups, each in the binary's own order (related code stays together): what both of
    # `true`'s replaying start-ups run (through PT_INTERP and as `rld /bin/true`), then what
    # either of them adds, then what its recording start-ups add, then the rest by how many
    # runs of the corpus use it. Listed run by run instead (each `true` once, so recording
    # only), the explicit start-up's functions and the replay path came after everything the
    # PT_INTERP run used: `rld /bin/true` ran code in 6 of rld's 64 KiB text windows, now 4.
    both, either = runs[1] & runs[3], runs[1] | runs[3]
    recording = (runs[0] | runs[2]) - either
    uses = collections.Counter(n for r in runs for n in r)
    groups = [sorted(g, key=lambda n: addr[n]) for g in (both, either - both, recording)]
    rest = set().union(*runs) - either - recording
    groups.append(sorted(rest, key=lambda n: (-uses[n], addr[n])))
    for g in groups:
        for n in g:
            if n not in seen:
                seen.add(n)
                order.append(n)
    with open(OUT, "w") as f:
        f.write("# Functions rld runs while starting programs, linked first in .text in this order\n")
        f.write("# (build.rs: the linker's symbol ordering file). Generated by scripts/hot-text.py;\n")
        f.write("# entries of another build (renamed functions, other hashes) only cost layout.\n")
        for n in order:
            f.write(n + "\n")
    print(f"{len(order)} entries -> {OUT}")


if __name__ == "__main__":
    main()
