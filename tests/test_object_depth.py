"""One nesting limit (docs/FORMAT.md §5): what writing accepts, reading serves and fsck passes;
deeper objects are refused by all three alike."""

from __future__ import annotations

import msgpack
import pytest
from conftest import assert_one_line_error, invoke

from trace_core import Repository, canonical
from trace_core.errors import InputError, MalformedObject
from trace_core.fsck import fsck
from trace_core.objects import Blob, Commit, parse_object


def nest(n):
    v = "x"
    for _ in range(n):
        v = [v]
    return v


def raw_blob(content_depth):
    """A blob object that bypasses the constructor's check, as a hostile writer would make it."""
    b = Blob.__new__(Blob)
    b._init(message={"content": nest(content_depth), "role": "user"})
    return b


def test_the_limit_counts_every_container_of_the_object():
    # the object's array (1), the message map (2), then 62 lists: 64 in all, the limit
    ok = Blob({"role": "user", "content": nest(62)})
    assert parse_object(ok.to_bytes(), strict=True) == ok
    assert parse_object(ok.to_bytes(), strict=False) == ok
    with pytest.raises(InputError, match="nested deeper than 64"):
        Blob({"role": "user", "content": nest(63)})
    # commit meta sits one container deeper (array, commit map)
    Commit(parents=[], snapshot=b"\1" * 32, op="append", meta={"x": nest(61)})
    with pytest.raises(InputError, match="nested deeper than 64"):
        Commit(parents=[], snapshot=b"\1" * 32, op="append", meta={"x": nest(62)})


@pytest.mark.parametrize("depth", [63, 100, 500, 900])
def test_reading_refuses_what_writing_and_fsck_refuse(depth):
    data = msgpack.packb(["blob", {"content": nest(depth), "role": "user"}], use_bin_type=True)
    for strict in (True, False):
        with pytest.raises(MalformedObject, match="nested deeper than 64"):
            parse_object(data, strict=strict)


def test_check_depth_is_iterative():
    v = nest(10_000)     # deeper than the interpreter's recursion limit
    with pytest.raises(MalformedObject):
        canonical.check_depth(v)
    canonical.check_depth(nest(64))


def test_deep_stored_object_fails_cat_object_and_fsck_alike(tmp_path):
    d = str(tmp_path / "r")
    repo = Repository.init(d, encoding="chars/4")
    deep, fine = raw_blob(200), raw_blob(62)
    repo.store.write([deep, fine])
    repo.close()
    p = invoke(d, "cat-object", "-p", deep.hex)
    assert_one_line_error(p, deep.hex, "nested deeper than 64")
    assert invoke(d, "cat-object", "-p", fine.hex).returncode == 0
    with Repository.open(d) as repo:
        found = [(f.id, f.object) for f in fsck(repo) if f.severity == "error"]
    assert found == [("malformedObject", deep.hex)]
