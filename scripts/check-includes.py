#!/usr/bin/env python3
"""Check every #include "..." under src/ against the rules in docs/architecture.md.

    scripts/check-includes.py [--root DIR]

The rules are the fenced block marked `include-rules` in DIR/docs/architecture.md
(the document and the check cannot drift apart).  Exit 0 when every include is
allowed, 1 with one line per forbidden edge ("src/a/b.c: includes x/y.h: why"),
2 when the rules themselves are malformed.

What is checked, for each quoted include of a file src/<mod>/...:
  - it resolves: to src/<path>, or for "proto/<p>.pb-c.h" to src/proto/<p>.proto
    (the generated protobuf-c code, see the Makefile);
  - <mod> may include the included module (a "may" line), or the edge is an
    "allow" line (permanent, justified) or an "except" line (known, to be
    removed: it names its issue);
  - a module's private header (<other>/*_int.h) is never included from outside;
  - the header an "allow" line lets in includes nothing but lib/ (no cycle).
System includes (<...>) are not checked.
"""
import argparse
import fnmatch
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def parse_rules(text):
    m = re.search(r"^```include-rules\n(.*?)^```", text, re.M | re.S)
    if not m:
        raise ValueError("no ```include-rules block")
    may, allow, excepts = {}, [], []
    for n, line in enumerate(m.group(1).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "may" and len(words) >= 2 and words[1].endswith(":"):
            may[words[1][:-1]] = set(words[2:])
        elif words[0] in ("allow", "except") and len(words) >= 4 and words[2] == "->":
            entry = (words[1], words[3], " ".join(words[4:]))
            if words[0] == "except" and not re.search(r"#\d+", entry[2]):
                raise ValueError(f"rule line {n}: an except line names its issue (#N)")
            (allow if words[0] == "allow" else excepts).append(entry)
        else:
            raise ValueError(f"rule line {n}: cannot parse: {line}")
    return may, allow, excepts


def sources(root):
    src = os.path.join(root, "src")
    for d, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                p = os.path.join(d, f)
                yield os.path.relpath(p, src).replace(os.sep, "/"), p


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return INCLUDE.findall(f.read())


def resolves(root, inc):
    if inc.startswith("proto/") and inc.endswith(".pb-c.h"):
        return os.path.isfile(os.path.join(root, "src", inc[: -len(".pb-c.h")] + ".proto"))
    return os.path.isfile(os.path.join(root, "src", inc))


def matches(entries, rel, inc):
    return [e for e in entries if fnmatch.fnmatch(rel, e[0]) and fnmatch.fnmatch(inc, e[1])]


def check(root):
    with open(os.path.join(root, "docs", "architecture.md"), encoding="utf-8") as f:
        may, allow, excepts = parse_rules(f.read())
    errors, used = [], set()
    for rel, path in sources(root):
        mod = rel.split("/", 1)[0]
        if mod == "proto":
            continue
        if mod not in may:
            errors.append(f"src/{rel}: module {mod}/ has no 'may' line in docs/architecture.md")
            continue
        for inc in includes(path):
            target = inc.split("/", 1)[0] if "/" in inc else None
            if not resolves(root, inc):
                errors.append(f"src/{rel}: includes {inc}: no such file under src/ "
                              "(generated protobuf headers are proto/...)")
                continue
            if target == mod:
                continue
            hit = matches(allow, rel, inc) or matches(excepts, rel, inc)
            if hit:
                used.update(hit)
                continue
            if re.search(r"_int\.h$", inc):
                errors.append(f"src/{rel}: includes {inc}: private header of {target}/")
            elif target not in may[mod] and "*" not in may[mod]:
                errors.append(f"src/{rel}: includes {inc}: {mod}/ may not include {target}/ "
                              f"(may: {' '.join(sorted(may[mod])) or 'nothing'})")
    for a in allow:
        for inc in includes(os.path.join(root, "src", a[1])) if os.path.isfile(
                os.path.join(root, "src", a[1])) else []:
            if not inc.startswith("lib/"):
                errors.append(f"src/{a[1]}: includes {inc}: a header let in by an allow line "
                              "includes only lib/")
    stale = [e for e in excepts if e not in used]
    return errors, stale


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    root = os.path.abspath(ap.parse_args().root)
    try:
        errors, stale = check(root)
    except (OSError, ValueError) as e:
        print(f"check-includes: {e}", file=sys.stderr)
        return 2
    for e in stale:
        print(f"check-includes: warning: exception no longer needed, remove it: "
              f"{e[0]} -> {e[1]}", file=sys.stderr)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check-includes: {len(errors)} forbidden include(s); rules: docs/architecture.md",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
