#!/usr/bin/env python3
"""Start-up benchmark: rld against glibc's loader, interleaved, on the same commands.

Usage: bench/compare.py [--mode list|run|interp] [--rounds N] [--callgrind] [--rld PATH]
                        [--keep-cg DIR] [--no-wait] [NAME ...]

mode list:   `LOADER --list PROG` for both loaders (issue 2).
mode run:    `LOADER PROG ARGS` (explicit invocation) for both loaders.
mode interp: the program is started directly (execve of the program, the kernel maps the interpreter):
             copies of each program binary are made in a temp dir with `patchelf --set-interpreter`
             pointing at a copy of rld resp. a copy of glibc's ld.so (both copies have equally long paths,
             so patchelf lays both program copies out identically). Siblings of the program's parent
             directory are symlinked next to the copy, so `$ORIGIN/../lib` RUNPATHs and exe-relative
             data lookups (python's prefix, java's JDK home, rustc's sysroot) keep working.
             No explicit-invocation overhead is included on either side.

Before timing, every program is run once under each loader; its stdout (temp-dir paths and, in
list mode, load addresses normalised) and exit status must match glibc's, otherwise it is marked
"rld fails: <first stderr line>" (or "rld output differs") and not timed. Programs that are not
installed are skipped.

Timing: each round runs every (program, loader) pair once, interleaved (the loader order alternates
per round), via posix_spawn + wait4 with stdio on /dev/null; the clock covers spawn to reap.
Printed: per-program median wall ms of each loader, the median of the per-round ratios rld/glibc
and their p10-p90.

--callgrind adds instruction counts (valgrind --tool=callgrind, deterministic except gdb's total):
  "ld Ir"    = SELF Ir of the loader's own ELF object (glibc: ld-linux-x86-64.so.2, rld: the rld binary),
               summed over the whole process lifetime: start-up (mapping, relocation, symbol lookup),
               lazy PLT binding, dlopen, TLS/lookup services - but not constructors or program code,
               which run in the program's and libraries' objects. Neither --toggle-collect nor total Ir.
  "total Ir" = all instructions of the process.
  Note that under valgrind vgpreload_core is LD_PRELOADed on both sides (one more object in every
  lookup scope).
"""
import argparse, os, re, shlex, shutil, statistics, subprocess, sys, tempfile, time

GLIBC = "/lib64/ld-linux-x86-64.so.2"
HERE = os.path.dirname(os.path.abspath(__file__))
RUSTC = os.path.expanduser("~/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc")
# Same corpus as ../shared/bench/corpus.sh (see ../shared/docs/baseline.md).
CORPUS = [
    ("true", "/usr/bin/true"),
    ("echo", "/usr/bin/echo hello"),
    ("ls", "/usr/bin/ls /usr"),
    ("cat", "/usr/bin/cat /etc/hostname"),
    ("bash", "/usr/bin/bash -c :"),
    ("perl", "/usr/bin/perl -e 1"),
    ("py-pass", "/usr/bin/python3 -c pass"),
    ("py-import", "/usr/bin/python3 -c 'import json,ssl,sqlite3'"),
    ("git", "/usr/local/bin/git --version"),
    ("curl", "/usr/bin/curl --version"),
    ("gdb", "/usr/bin/gdb -nx --batch --version"),
    ("clang", "/usr/lib/llvm-14/bin/clang --version"),
    ("rustc", RUSTC + " --version"),
    ("lupdate", "/usr/lib/qt5/bin/lupdate -version"),
    ("inkscape", "/usr/bin/inkscape --version"),
    ("ffmpeg", "/usr/bin/ffmpeg -version"),
    ("node", "/usr/bin/node -e 0"),
    ("java", "/usr/lib/jvm/java-17-openjdk-amd64/bin/java -version"),
]
LOADERS = ("glibc", "rld")


def set_interp_in_place(path, interp):
    """Overwrites the PT_INTERP string of an ELF64 file in place (NUL-padded; the new path must fit).

    Used instead of `patchelf --set-interpreter` by default: patchelf 0.14 always moves .interp,
    .dynstr, .gnu.version* and .rela.* into a new RW PT_LOAD at the end of the file, and rld refuses
    such files ("cannot read its dynamic tables (rld reads them from the read-only segments)").
    Editing in place keeps the original layout, identical for both loaders."""
    import struct
    with open(path, "r+b") as f:
        eh = f.read(64)
        assert eh[:4] == b"\x7fELF" and eh[4] == 2, path
        phoff, = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, p_offset, _, _, p_filesz = struct.unpack("<IIQQQQ", f.read(40))
            if p_type == 3:  # PT_INTERP
                new = interp.encode()
                if len(new) + 1 > p_filesz:
                    raise SystemExit(f"{interp} does not fit into {path}'s PT_INTERP ({p_filesz} bytes)")
                f.seek(p_offset)
                f.write(new + b"\0" * (p_filesz - len(new)))
                return
    raise SystemExit(f"{path} has no PT_INTERP")


class Setup:
    """Maps (program, loader) to an argv, and knows each loader's ELF object path (for callgrind)."""

    def __init__(self, mode, rld, progs, patchelf=False):
        self.mode, self.progs, self.patchelf = mode, dict(progs), patchelf
        self.loader = {"glibc": GLIBC, "rld": rld}
        self.tmp = None
        self.copies = {}
        if mode == "interp":
            self._make_copies(rld)

    def _make_copies(self, rld):
        if not shutil.which("patchelf"):
            sys.exit("patchelf is missing: apt-get install -y patchelf")
        self.tmp = tempfile.mkdtemp(prefix="ri", dir="/tmp")  # short: the loader paths must fit in .interp
        # equally long interpreter paths for both sides
        self.loader = {"glibc": os.path.join(self.tmp, "g.so"), "rld": os.path.join(self.tmp, "r.so")}
        shutil.copy2(os.path.realpath(GLIBC), self.loader["glibc"])
        shutil.copy2(os.path.realpath(rld), self.loader["rld"])
        for name, cmd in self.progs.items():
            exe = os.path.realpath(shlex.split(cmd)[0])
            bindir = os.path.dirname(exe)
            up = os.path.dirname(bindir)
            for side in LOADERS:
                root = os.path.join(self.tmp, name, side)
                newbin = os.path.join(root, os.path.basename(bindir))
                os.makedirs(newbin)
                for e in os.listdir(up):  # $ORIGIN/../lib, exe-relative prefixes
                    if e != os.path.basename(bindir):
                        os.symlink(os.path.join(up, e), os.path.join(root, e))
                dst = os.path.join(newbin, os.path.basename(exe))
                shutil.copy2(exe, dst)
                if self.patchelf:
                    subprocess.run(["patchelf", "--set-interpreter", self.loader[side], dst], check=True)
                else:
                    set_interp_in_place(dst, self.loader[side])
                self.copies[(name, side)] = dst

    def argv(self, name, side):
        argv = shlex.split(self.progs[name])
        if self.mode == "list":
            return [self.loader[side], "--list", argv[0]]
        if self.mode == "run":
            return [self.loader[side]] + argv
        return [self.copies[(name, side)]] + argv[1:]

    def normalise(self, text, name):
        if self.tmp:
            for side in LOADERS:
                text = text.replace(os.path.join(self.tmp, name, side), "<DIR>")
        if self.mode == "list":
            text = re.sub(r"\(0x[0-9a-f]+\)", "(ADDR)", text)
        return text

    def cleanup(self):
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def check(setup, name, timeout):
    """Runs both sides once. Returns None if rld behaves like glibc, else a short failure text."""
    res = {}
    for side in LOADERS:
        try:
            p = subprocess.run(setup.argv(name, side), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
            res[side] = (p.returncode, setup.normalise(p.stdout.decode(errors="replace"), name),
                         p.stderr.decode(errors="replace"))
        except subprocess.TimeoutExpired:
            res[side] = ("timeout", "", f"timed out after {timeout}s")
    (grc, gout, gerr), (rrc, rout, rerr) = res["glibc"], res["rld"]
    if grc != 0 and grc == rrc and gout == rout:
        return None
    if rrc != grc:
        lines = [l for l in setup.normalise(rerr, name).splitlines() if l.strip()]
        first = lines[0] if lines else ""
        why = next((l for l in lines[1:] if re.search(r"\brld\b", l)), None)  # e.g. java: "Error: dl failure on line 542"
        if why:
            first += " | " + why
        sig = f" (killed by signal {-rrc})" if isinstance(rrc, int) and rrc < 0 else ""
        return f"rld fails: exit {rrc} vs glibc {grc}{sig}: {first[:300]}"
    if rout != gout:
        return "rld output differs from glibc's (stdout)"
    return None


def spawn_time(argv, devnull):
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    t = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
    _, status, _ = os.wait4(pid, 0)
    return time.perf_counter() - t, status


def parse_cg(path):
    """Callgrind output (--dump-instr=no) -> (total Ir, {object: self Ir})."""
    obs, selfob, total = {}, {}, 0
    cur = None
    pending = False
    for line in open(path, errors="replace"):
        c = line[:1]
        if c.isdigit() or c in "+-*":
            if pending:
                pending = False
                continue
            parts = line.split()
            if len(parts) > 1:
                selfob[cur] = selfob.get(cur, 0) + int(parts[1])
        elif line.startswith("ob="):
            m = re.match(r"ob=\((\d+)\)(?:\s+(.*))?$", line.strip())
            if m:
                if m.group(2):
                    obs[m.group(1)] = m.group(2)
                cur = obs.get(m.group(1))
            else:
                cur = line[3:].strip()
        elif line.startswith("cob="):  # may be the first mention (and definition) of an object
            m = re.match(r"cob=\((\d+)\)\s+(.+)$", line.strip())
            if m:
                obs[m.group(1)] = m.group(2)
        elif line.startswith("calls="):
            pending = True
        elif line.startswith("summary:") or line.startswith("totals:"):
            total = int(line.split()[1])
    return total, selfob


def instructions(setup, name, side, keep, warm=False):
    fd, out = tempfile.mkstemp(prefix="cg-")
    os.close(fd)
    try:
        if warm and side == "rld":
            # Under valgrind there is no vDSO, so rld's launch-cache fingerprint differs from
            # the timed runs': the record for valgrind lives in its own directory (set by
            # main), written by this first run and replayed by the measured one.
            subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out}"]
                           + setup.argv(name, side), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        p = subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out}"]
                           + setup.argv(name, side), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, errors="replace")
        total, selfob = parse_cg(out)
        if not total:
            m = re.search(r"^valgrind: (.*)$", p.stderr, re.M)
            return f"{side}: {m.group(1) if m else 'no profile'}"
        want = os.path.realpath(setup.loader[side])
        ld = sum(v for o, v in selfob.items() if o and os.path.realpath(o) == want)
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(out, os.path.join(keep, f"{setup.mode}.{name}.{side}.cg"))
        return (ld, total) if total else None
    finally:
        os.unlink(out)


def wait_quiet(max_s=120):
    """Waits (at most max_s) for >= 90% idle CPU over 3 s; returns the idle percentage seen."""
    pct = 0
    for _ in range(max(1, max_s // 3)):
        def snap():
            v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
            return sum(v), v[3]
        t1, i1 = snap()
        time.sleep(3)
        t2, i2 = snap()
        pct = 100 * (i2 - i1) / max(1, t2 - t1)
        if pct >= 90:
            break
    return pct


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["list", "run", "interp"], default="list")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--rld", default=os.path.join(HERE, "..", "target", "release", "rld"))
    ap.add_argument("--keep-cg", metavar="DIR", help="keep the callgrind output files in DIR")
    ap.add_argument("--timeout", type=int, default=120, help="per-run timeout of the correctness check (s)")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for an idle machine before timing")
    ap.add_argument("--patchelf", action="store_true",
                    help="interp mode: use patchelf --set-interpreter (moves the dynamic tables into a new RW segment)")
    ap.add_argument("--launch-cache", choices=["env", "off", "warm"], default="env",
                    help="rld's launch cache: as the environment says, off (RLD_LAUNCH_CACHE=0), or warm "
                         "(a fresh directory, written by the correctness run, replayed by every timed run)")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    rld = os.path.abspath(a.rld)
    if not os.path.exists(rld):
        sys.exit(f"no rld binary at {rld}")
    progs, skipped = [], []
    for n, c in CORPUS:
        if a.names and n not in a.names:
            continue
        (progs if os.path.exists(shlex.split(c)[0]) else skipped).append((n, c))
    setup = Setup(a.mode, rld, progs, a.patchelf)
    cache_dir = None
    if a.launch_cache == "off":
        os.environ["RLD_LAUNCH_CACHE"] = "0"
    elif a.launch_cache == "warm":
        cache_dir = tempfile.mkdtemp(prefix="rld-launch-")
        os.environ["RLD_LAUNCH_CACHE"] = cache_dir
    try:
        head = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        print(f"# compare.py mode={a.mode} rounds={a.rounds} rld={rld} (mtime {time.ctime(os.path.getmtime(rld))}, "
              f"repo HEAD at run time {head}) date={time.strftime('%Y-%m-%d %H:%M')} "
              f"launch-cache={a.launch_cache} (RLD_LAUNCH_CACHE={os.environ.get('RLD_LAUNCH_CACHE', '<unset>')})")
        for n, c in skipped:
            print(f"# skipped {n}: {shlex.split(c)[0]} is not installed")
        failed = {}
        for n, _ in progs:
            f = check(setup, n, a.timeout)
            if f:
                failed[n] = f
        timed = [n for n, _ in progs if n not in failed]
        if not a.no_wait:
            print(f"# idle before timing: {wait_quiet():.0f}%")
        devnull = os.open(os.devnull, os.O_RDWR)
        times = {(n, s): [] for n in timed for s in LOADERS}
        ratios = {n: [] for n in timed}
        bad = {}
        for r in range(a.rounds):
            for n in timed:
                order = LOADERS if r % 2 == 0 else LOADERS[::-1]
                got = {}
                for s in order:
                    t, st = spawn_time(setup.argv(n, s), devnull)
                    got[s] = t
                    if st != 0 and s == "rld":
                        bad[n] = bad.get(n, 0) + 1
                times[(n, "glibc")].append(got["glibc"])
                times[(n, "rld")].append(got["rld"])
                ratios[n].append(got["rld"] / got["glibc"])
        print(f"# wall ms: medians over {a.rounds} interleaved rounds; ratio = median of per-round rld/glibc (p10-p90)")
        if a.callgrind:
            print("# ld Ir = self Ir of the loader's own object over the whole run (not --toggle-collect); total Ir = whole process")
        hdr = f"{'program':10} {'glibc ms':>9} {'rld ms':>9} {'ratio':>7} {'(p10-p90)':>13}"
        if a.callgrind:
            hdr += f" {'glibc ld Ir':>12} {'rld ld Ir':>12} {'ld Ir ratio':>11} {'glibc tot Ir':>13} {'rld tot Ir':>13} {'tot ratio':>9}"
        print(hdr)
        for n, _ in progs:
            if n in failed:
                print(f"{n:10} {failed[n]}", flush=True)
                continue
            rs = ratios[n]
            line = (f"{n:10} {statistics.median(times[(n, 'glibc')])*1e3:9.3f} {statistics.median(times[(n, 'rld')])*1e3:9.3f}"
                    f" {statistics.median(rs):7.3f} {f'({pct(rs, .1):.2f}-{pct(rs, .9):.2f})':>13}")
            if a.callgrind:
                if cache_dir:
                    os.environ["RLD_LAUNCH_CACHE"] = cache_dir + "-valgrind"
                gi = instructions(setup, n, "glibc", a.keep_cg)
                ri = instructions(setup, n, "rld", a.keep_cg, warm=cache_dir is not None)
                if cache_dir:
                    os.environ["RLD_LAUNCH_CACHE"] = cache_dir
                if isinstance(gi, str) or isinstance(ri, str):
                    line += " callgrind failed: " + "; ".join(x for x in (gi, ri) if isinstance(x, str))
                elif gi and ri:
                    line += (f" {gi[0]:12d} {ri[0]:12d} {ri[0]/max(1, gi[0]):11.3f}"
                             f" {gi[1]:13d} {ri[1]:13d} {ri[1]/gi[1]:9.3f}")
                else:
                    line += " callgrind failed"
            if n in bad:
                line += f"  [rld exited non-zero in {bad[n]} timed runs]"
            print(line, flush=True)
    finally:
        setup.cleanup()
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
            shutil.rmtree(cache_dir + "-valgrind", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
