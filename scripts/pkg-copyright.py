#!/usr/bin/env python3
"""debian/copyright (machine-readable, DEP-5) for the outpost packages.

usage: pkg-copyright.py OUTPOST_BINARY LICENSE > copyright

outpost's own licence comes from LICENSE; the notices of the libraries
linked into the static binary come from the binary itself (`outpost
version --licenses`, the Debian copyright files of the sources it was built
from), so the package states exactly what the shipped binary contains.
Each library gets a Files paragraph and its whole notice as a License
paragraph.
"""
import re
import subprocess
import sys

FORMAT = "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"


def field_text(text):
    """A DEP-5 multi-line field body: every line indented, blank lines as '.'."""
    return "\n".join(" " + ln.rstrip() if ln.strip() else " ." for ln in text.strip("\n").split("\n"))


def notices(binary):
    out = subprocess.run([binary, "version", "--licenses"], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    parts = re.split(r"^==== (\S+) ====\n", out, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def holders(notice):
    """Every Copyright: field's lines (DEP-5 or the older free-form files)."""
    seen = []
    for m in re.finditer(r"^Copyright:(.*(?:\n[ \t]+\S.*)*)", notice, re.M):
        for ln in m.group(1).split("\n"):
            ln = " ".join(ln.split())
            if ln and ln not in seen:
                seen.append(ln)
    return seen or ["see the notice in the License paragraph"]


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    binary, licence = argv[1:]
    own = open(licence, encoding="utf-8").read()
    name = own.split("\n", 1)[0].replace(" License", "")
    year = re.search(r"Copyright \(c\) (.+)", own).group(1)
    libs = notices(binary)
    out = [f"Format: {FORMAT}", "Upstream-Name: outpost",
           "Comment: /usr/bin/outpost is linked statically with " + ", ".join(libs) + ",",
           " built from their Debian source packages; each one's notice follows in full.",
           "", "Files: *", f"Copyright: {year}", f"License: {name}"]
    for lib, notice in libs.items():
        out += ["", f"Files: embedded/{lib}/*",
                "Copyright: " + "\n ".join(holders(notice)), f"License: {lib}-notice"]
    body = own.split("\n", 1)[1]
    body = re.sub(r"^\s*Copyright \(c\).*\n", "", body, flags=re.M)
    out += ["", f"License: {name}", field_text(body)]
    for lib, notice in libs.items():
        out += ["", f"License: {lib}-notice", field_text(notice)]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv)
