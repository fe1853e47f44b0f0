"""lib/toml against Python's tomllib on every file of tests/vectors/toml/.

valid/       both accept, and the trees are equal (types included: the dump
             tool prints toml-test's tagged JSON, tomllib's result is
             tagged the same way here);
invalid/     both refuse; outpost names file:line:column;
unsupported/ tomllib accepts, outpost refuses (features rules files do not
             use, and the bounds): the message says what was expected.
The dump tool is build/host/toml_dump (TOML_DUMP_BIN, set by `make
integration`).
"""
import json
import os
import pathlib
import re
import subprocess
import tomllib

import pytest

VECTORS = pathlib.Path(__file__).resolve().parents[1] / "vectors" / "toml"


def files(kind):
    return sorted((VECTORS / kind).glob("*.toml"), key=lambda p: p.name)


@pytest.fixture(scope="module")
def dump_bin():
    path = os.environ.get("TOML_DUMP_BIN")
    if not path or not os.path.isfile(path):
        pytest.fail("TOML_DUMP_BIN must name build/host/toml_dump (run `make integration`)")
    return path


def tagged(v):
    if isinstance(v, dict):
        return {k: tagged(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tagged(x) for x in v]
    if isinstance(v, bool):
        return {"type": "bool", "value": "true" if v else "false"}
    if isinstance(v, int):
        return {"type": "integer", "value": str(v)}
    if isinstance(v, str):
        return {"type": "string", "value": v}
    raise AssertionError(f"type outside the subset: {type(v)}")


def tomllib_parse(path):
    try:
        return True, tomllib.loads(path.read_bytes().decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False, None


def ours(dump_bin, path):
    r = subprocess.run([dump_bin, str(path)], capture_output=True, timeout=10)
    return r.returncode, r.stdout.decode("utf-8", "surrogateescape"), r.stderr.decode()


def test_corpus_is_there():
    assert len(files("valid")) >= 30 and len(files("invalid")) >= 60
    assert len(files("unsupported")) >= 10


@pytest.mark.parametrize("path", files("valid"), ids=lambda p: p.stem)
def test_valid_same_values(dump_bin, path):
    ok, want = tomllib_parse(path)
    assert ok, "tomllib refuses a file of valid/"
    rc, out, err = ours(dump_bin, path)
    assert rc == 0, err
    assert json.loads(out) == tagged(want)


@pytest.mark.parametrize("path", files("invalid"), ids=lambda p: p.stem)
def test_invalid_both_refuse(dump_bin, path):
    ok, _ = tomllib_parse(path)
    assert not ok, "tomllib accepts a file of invalid/"
    rc, out, err = ours(dump_bin, path)
    assert rc == 1 and out == ""
    assert re.match(re.escape(str(path)) + r":\d+:\d+: \S", err), err


@pytest.mark.parametrize("path", files("unsupported"), ids=lambda p: p.stem)
def test_unsupported_refused(dump_bin, path):
    ok, _ = tomllib_parse(path)
    assert ok, "tomllib refuses a file of unsupported/"
    rc, _, err = ours(dump_bin, path)
    assert rc == 1
    assert re.match(re.escape(str(path)) + r":\d+:\d+: .*(not supported|range|deeper)", err), err


def test_error_position(dump_bin, tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("version = 1\n\n[[rules]]\nname = \"x\" y\n")
    rc, _, err = ours(dump_bin, p)
    assert rc == 1
    assert err.strip() == f"{p}:4:12: expected a newline after a value"


def test_one_mib_document(dump_bin, tmp_path):
    rule = "[[rules]]\nname = \"r{}\"\ntype = \"regex\"\npattern = '[a-z]+{}'\n\n"
    text = "version = 1\n" + "".join(rule.format(i, i) for i in range(17000))
    assert len(text) > 1 << 20
    p = tmp_path / "big.toml"
    p.write_text(text)
    rc, out, err = ours(dump_bin, p)
    assert rc == 0, err
    assert json.loads(out) == tagged(tomllib.loads(text))
