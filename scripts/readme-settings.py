#!/usr/bin/env python3
"""Rewrite (or, with --check, verify) the settings table in README.md.

The table is the output of `outpost check-config --markdown`, which is
generated from src/cfg/settings.def; it sits between the markers
<!-- settings:begin --> and <!-- settings:end -->.

usage: readme-settings.py [--check] OUTPOST_BINARY README
"""
import subprocess
import sys

BEGIN = "<!-- settings:begin -->\n"
END = "<!-- settings:end -->"


def main(argv):
    check = argv[1:2] == ["--check"]
    args = argv[2:] if check else argv[1:]
    if len(args) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    binary, readme = args
    table = subprocess.run([binary, "check-config", "--markdown"], check=True,
                           capture_output=True, text=True, timeout=30).stdout
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        sys.exit(f"{readme}: no {BEGIN.strip()} ... {END} block")
    new = text[:start + len(BEGIN)] + table + text[end:]
    if check:
        if new != text:
            sys.exit(f"{readme}: the settings table is out of date; run `make readme-settings`")
        return
    if new != text:
        with open(readme, "w", encoding="utf-8") as f:
            f.write(new)
        print(f"{readme}: settings table updated")


if __name__ == "__main__":
    main(sys.argv)
