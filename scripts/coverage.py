#!/usr/bin/env python3
"""Line coverage per module (src/<module>/) from llvm-cov, for `make coverage`.

    scripts/coverage.py PROFDATA BINARY...

Prints a Markdown table (module, lines, covered, %), the files with the
most uncovered lines, and the src/ files no measured binary links (they are
in no line count above), for docs/coverage.md.  Generated code (protobuf-c
output, the licence blob) and tests are left out: only src/.
"""
import json
import os
import subprocess
import sys
from collections import defaultdict


def main():
    prof, bins = sys.argv[1], sys.argv[2:]
    argv = ["llvm-cov", "export", "-summary-only", f"-instr-profile={prof}", bins[0]]
    for b in bins[1:]:
        argv += ["-object", b]
    doc = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True,
                                    timeout=600).stdout)
    mods = defaultdict(lambda: [0, 0])
    files = []
    for f in doc["data"][0]["files"]:
        name = os.path.relpath(f["filename"])
        if not name.startswith("src/"):
            continue
        lines = f["summary"]["lines"]
        mod = name.split("/")[1]
        mods[mod][0] += lines["count"]
        mods[mod][1] += lines["covered"]
        files.append((lines["count"] - lines["covered"], name, lines["count"], lines["covered"]))
    print("| module | lines | covered | line coverage |")
    print("|---|---:|---:|---:|")
    total = [0, 0]
    for mod in sorted(mods):
        n, c = mods[mod]
        total[0] += n
        total[1] += c
        print(f"| `{mod}/` | {n} | {c} | {100.0 * c / n:.1f} % |")
    print(f"| **total** | {total[0]} | {total[1]} | {100.0 * total[1] / total[0]:.1f} % |")
    print("\nFiles with the most uncovered lines:\n")
    print("| file | lines | uncovered | line coverage |")
    print("|---|---:|---:|---:|")
    for miss, name, n, c in sorted(files, reverse=True)[:25]:
        print(f"| `{name}` | {n} | {miss} | {100.0 * c / n:.1f} % |")
    seen = {f[1] for f in files}
    absent = sorted(os.path.join(d, n) for d, _, ns in os.walk("src") for n in ns
                    if n.endswith(".c") and os.path.join(d, n) not in seen)
    print("\nNot linked into any unit test or fuzz target: " +
          ", ".join(f"`{a}`" for a in absent))


if __name__ == "__main__":
    main()
