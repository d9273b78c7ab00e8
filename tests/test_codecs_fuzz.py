"""Property tests for the byte-level codecs not covered elsewhere: ref records, journal records,
pack blocks and indexes. Round trips hold; damaged bytes raise only the declared errors."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trace_core.errors import CorruptObject, CorruptRef, MalformedObject, ObjectTooLarge, PackError
from trace_core.ids import hash_bytes
from trace_core.refs.reffile import (
    RefLogEntry,
    encode_record,
    iter_records,
    parse_record,
    parse_tail,
)
from trace_core.storage import journal as jn
from trace_core.storage.pack import Pack, write_pack

hexid = st.binary(min_size=32, max_size=32).map(bytes.hex)
value = st.one_of(hexid.filter(lambda h: h != "0" * 64),
                  st.from_regex(r"refs/heads/[a-z]{1,10}",
                                fullmatch=True).map(lambda n: "ref:" + n))


@given(new=value, old=st.one_of(hexid, value), t=st.integers(0, 2 ** 53), who=st.text(max_size=200),
       msg=st.text(max_size=700))
def test_ref_record_round_trip(new, old, t, who, msg):
    data = encode_record(RefLogEntry(new, old, t, who, msg))
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    rec = parse_record(data[:-1])
    assert rec is not None and (rec.new, rec.old, rec.time_ms) == (new, old, t)
    assert "\t" not in rec.who + rec.message and len(rec.message) <= 500
    assert msg[:500] == rec.message or not msg[:500].isprintable()


@given(st.binary(max_size=600), st.booleans())
def test_ref_tail_parser_raises_only_corrupt_ref(data, at_start):
    try:
        rec, end = parse_tail(data, at_start)
    except CorruptRef:
        return
    assert rec is None or end > 0
    for _, r in iter_records(data):
        assert r is None or isinstance(r, RefLogEntry)


@settings(max_examples=60)
@given(st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8), st.data())
def test_journal_scan_round_trip_and_damage(payloads, data):
    from trace_core.storage import zstd_codec as zc
    recs = []
    buf = jn.MAGIC
    for p in payloads:
        frame = zc.compress(p)
        oid = hash_bytes(p)
        buf += jn.encode_record(oid, 1, frame, len(p))
        recs.append(oid)
    res = jn.scan(buf)
    assert [r[0] for r in res.records] == recs and res.torn_bytes == 0
    # truncation anywhere: a prefix of the records survives, the rest is a torn tail
    cut = data.draw(st.integers(len(jn.MAGIC), len(buf)))
    res = jn.scan(buf[:cut])
    assert [r[0] for r in res.records] == recs[:len(res.records)]
    assert res.valid_end + res.torn_bytes == cut
    # one flipped bit: never an exception, never a record with a wrong id accepted as valid
    i = data.draw(st.integers(0, len(buf) - 1))
    flipped = bytearray(buf)
    flipped[i] ^= 1 << data.draw(st.integers(0, 7))
    res = jn.scan(bytes(flipped))
    if not res.bad_header:
        for oid, _t, off, clen, ulen in res.records:
            try:
                raw = zc.decompress(bytes(flipped[off:off + clen]), ulen)
            except (MalformedObject, ObjectTooLarge):
                continue
            assert hash_bytes(raw) == oid or oid not in recs


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=2000), min_size=1, max_size=30, unique=True),
       st.data())
def test_pack_round_trip_and_damage(objs, data):
    with tempfile.TemporaryDirectory() as d:
        items = [(hash_bytes(o), 1, o) for o in objs]
        name = write_pack(d, items, block_target=2048)
        pack = Pack(d, name)
        assert pack.verify_pack_checksum() and pack.verify_index_checksum()
        got = {}
        for b in range(pack.nblocks):
            got.update({k: bytes(v) for k, v in pack.read_block(b, 1 << 20).items()})
        assert got == {i[0]: i[2] for i in items}
        pack.close()
        which = data.draw(st.sampled_from([".pack", ".idx"]))
        path = os.path.join(d, f"pack-{name}{which}")
        raw = bytearray(Path(path).read_bytes())
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
        Path(path).write_bytes(bytes(raw))
        try:
            pack = Pack(d, name)
            ok = pack.verify_pack_checksum() and pack.verify_index_checksum()
            for b in range(pack.nblocks):
                for k, v in pack.read_block(b, 1 << 20).items():
                    if hash_bytes(bytes(v)) != k:
                        ok = False
            assert not ok  # every damage is detected by a checksum or a hash
        except (PackError, MalformedObject, ObjectTooLarge, CorruptObject):
            pass
