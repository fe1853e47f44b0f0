"""scripts/check-includes.py against a copy of the tree (issue #11 item 5):
the real tree passes, and each kind of forbidden include added to a copy fails
with a line naming the file and the edge."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "check-includes.py")


@pytest.fixture
def tree(tmp_path):
    for d in ("src", "docs"):
        shutil.copytree(os.path.join(ROOT, d), tmp_path / d)
    return tmp_path


def check(root):
    return subprocess.run([sys.executable, SCRIPT, "--root", str(root)],
                          capture_output=True, text=True, timeout=60)


def add_include(root, rel, inc):
    p = root / "src" / rel
    text = p.read_text()
    # After the first include line, so header guards stay intact.
    i = text.index("#include")
    p.write_text(text[:i] + f'#include "{inc}"\n' + text[i:])


def test_the_tree_passes(tree):
    r = check(tree)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("rel,inc,why", [
    ("lib/util.h", "connector/tunnel.h", "lib/ may not include connector/"),
    ("edge/edge.c", "connector/tunnel.h", "edge/ may not include connector/"),
    ("net/dial.c", "http/http.h", "net/ may not include http/"),
    ("h2/h2.h", "grpc/grpc.h", "h2/ may not include grpc/"),
    ("init/init.c", "tls/tls.h", "init/ may not include tls/"),
    ("connector/worker.c", "edge/edge.h", "connector/ may not include edge/"),
    ("connector/worker.c", "tls/tls_int.h", "private header of tls/"),
    ("edge/edge_msg.c", "connector/v1/connector.pb-c.h", "no such file"),
])
def test_a_forbidden_include_fails(tree, rel, inc, why):
    add_include(tree, rel, inc)
    r = check(tree)
    assert r.returncode == 1, r
    assert f"src/{rel}: includes {inc}: " in r.stderr and why in r.stderr, r.stderr
    assert "1 forbidden include(s)" in r.stderr


def test_an_allowed_header_must_stay_a_leaf(tree):
    add_include(tree, "http/http.h", "net/net.h")
    r = check(tree)
    assert r.returncode == 1, r
    assert "src/http/http.h: includes net/net.h: a header let in by an allow line" in r.stderr


def test_an_exception_names_its_issue(tree):
    doc = tree / "docs" / "architecture.md"
    doc.write_text(doc.read_text().replace(
        "```include-rules\n", "```include-rules\nexcept lib/*.c -> rx/rx.h no issue given\n"))
    r = check(tree)
    assert r.returncode == 2, r
    assert "names its issue" in r.stderr
