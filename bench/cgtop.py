#!/usr/bin/env python3
"""Top functions of a callgrind profile (made with --dump-instr=no), inclusive and self Ir.

Usage: bench/cgtop.py CALLGRIND.OUT [--obj SUBSTRING] [-n N]

Runs callgrind_annotate (--inclusive=yes and =no, --threshold=100) and merges the rows of one
function that callgrind_annotate splits by source file (Rust code inlined from other files shows up
as file-A:f, file-B:f, ...): self Ir is summed over those rows, inclusive Ir is their maximum. --obj keeps only functions of objects whose path contains SUBSTRING
(e.g. "rld" or "ld-linux"). Percentages are of the whole process (PROGRAM TOTALS).
"""
import argparse, collections, re, subprocess


def table(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    total, rows, objof = None, collections.Counter(), {}
    # rows of code inlined from another source file carry no [object]; take it from the function's other rows
    for line in out.splitlines():
        m = re.match(r"\s*[\d,]+ \(\s*[\d.]+%\)\s+(.*?) \[(.*)\]$", line)
        if m and ":" in m.group(1):
            objof.setdefault(m.group(1).split(":", 1)[1], m.group(2))
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        ir, rest = int(m.group(1).replace(",", "")), m.group(2)
        if rest.strip() == "PROGRAM TOTALS":
            total = ir
            continue
        m2 = re.match(r"(.*?)(?: \[(.*)\])?$", rest)
        fnpart = m2.group(1)
        fn = fnpart.split(":", 1)[1] if ":" in fnpart else fnpart
        obj = m2.group(2) or objof.get(fn, "?")
        # self: the split rows are disjoint, sum them; inclusive: callgrind_annotate's row for the function's
        # own file already covers the whole function (the other rows are subsets), take the largest
        rows[(fn, obj)] = max(rows[(fn, obj)], ir) if inclusive else rows[(fn, obj)] + ir
    return total, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--obj", default="")
    ap.add_argument("-n", type=int, default=25)
    a = ap.parse_args()
    for inclusive in (True, False):
        total, rows = table(a.path, inclusive)
        sel = [(v, fn, obj) for (fn, obj), v in rows.items() if a.obj in obj]
        sel.sort(reverse=True)
        print(f"## {'inclusive' if inclusive else 'self'} Ir, top {a.n}{' in objects matching ' + repr(a.obj) if a.obj else ''}"
              f" (process total {total:,})")
        for v, fn, obj in sel[:a.n]:
            print(f"{v:13,} {100*v/total:6.2f}%  {fn}  [{obj.rsplit('/', 1)[-1]}]")
        print()


if __name__ == "__main__":
    main()
