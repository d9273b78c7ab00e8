"""`trace cat-object --batch` / `--batch-check`: many objects from one process, as git's
`cat-file --batch` serves scripts (issue 17: a script reading 1,000 objects pays one start-up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import assert_one_line_error, invoke

from trace_core import plumbing
from trace_core.repository import Repository
from trace_core.storage import journal as jn


def _repo(rdir: str) -> list[str]:
    """Three commits; their ids, newest first."""
    r = Repository.open(rdir)
    for text in ("first", "second", "third"):
        r.append({"role": "user", "content": text})
    ids = [c.hex() for c in plumbing.rev_list_ids(r, ["HEAD"])]
    r.close()
    return ids


def _parse_batch(out: bytes) -> list:
    """(header fields, content bytes or None) per answer of --batch output."""
    answers, i = [], 0
    while i < len(out):
        j = out.index(b"\n", i)
        head = out[i:j].decode().split(" ")
        i = j + 1
        body = None
        if head[-1] not in ("missing", "ambiguous"):
            n = int(head[2])
            body, i = out[i:i + n], i + n
            assert out[i:i + 1] == b"\n"
            i += 1
        answers.append((head, body))
    return answers


def test_batch_check_answers_each_name_in_order(rdir):
    ids = _repo(rdir)
    names = ["HEAD", "HEAD~1", ids[2][:8], "nosuch", "", "HEAD~99", "a..b", ids[0]]
    p = invoke(rdir, "cat-object", "--batch-check", input="\n".join(names) + "\n", check=True)
    r = Repository.open(rdir)
    size = {i: len(r.get(bytes.fromhex(i)).to_bytes()) for i in ids}
    r.close()
    assert p.stdout.splitlines() == [
        f"{ids[0]} commit {size[ids[0]]}", f"{ids[1]} commit {size[ids[1]]}",
        f"{ids[2]} commit {size[ids[2]]}", "nosuch missing", " missing", "HEAD~99 missing",
        "a..b missing", f"{ids[0]} commit {size[ids[0]]}"]


def test_batch_prints_canonical_bytes_of_every_type(rdir):
    _repo(rdir)
    r = Repository.open(rdir)
    head = r.get_commit(r.head_commit())
    snap = r.get_snapshot(head.snapshot)
    blob = snap.tail[0].blob if snap.tail else None
    want = [r.head_commit(), head.snapshot] + ([blob] if blob else [])
    expect = {oid.hex(): r.get(oid) for oid in want}
    r.close()
    names = [oid.hex() for oid in want] + ["nosuch"]
    p = subprocess.run([sys.executable, "-m", "trace_cli.main", "-C", rdir, "cat-object",
                        "--batch"], input=("\n".join(names) + "\n").encode(),
                       capture_output=True, check=True)
    answers = _parse_batch(p.stdout)
    assert [a[0] for a in answers[-1:]] == [["nosuch", "missing"]]
    for (head_fields, body), name in zip(answers[:-1], names[:-1], strict=True):
        o = expect[name]
        assert head_fields == [name, o.tag, str(len(o.to_bytes()))]
        assert body == o.to_bytes()
    assert {a[0][1] for a in answers[:-1]} >= {"commit", "snap"}


def test_batch_json_lines(rdir):
    ids = _repo(rdir)
    p = invoke(rdir, "cat-object", "--batch", "--json", input=f"HEAD\nzzzz\n{ids[1]}\n",
               check=True)
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    assert recs[0]["id"] == ids[0] and recs[0]["type"] == "commit"
    assert recs[0]["object"]["parents"] == [ids[1]]
    assert recs[1] == {"name": "zzzz", "missing": True}
    assert recs[2]["name"] == ids[1] and recs[2]["object"]["type"] == "commit"
    p = invoke(rdir, "cat-object", "--batch-check", "--json", input="HEAD\n", check=True)
    assert json.loads(p.stdout) == {"name": "HEAD", "id": ids[0], "type": "commit",
                                    "size": recs[0]["size"]}


def test_an_ambiguous_short_id_is_reported_as_such(rdir):
    r = Repository.open(rdir)
    seen: dict = {}
    i = 0
    while True:     # blobs until two share their first four hex digits (birthday: ~300)
        oid = bytes.fromhex(plumbing.hash_object(r, {"role": "user", "content": f"m{i}"},
                                                 write=True))
        prefix = oid.hex()[:4]
        if prefix in seen:
            break
        seen[prefix] = oid
        i += 1
    r.close()
    p = invoke(rdir, "cat-object", "--batch-check", input=f"{prefix}\n{oid.hex()}\n", check=True)
    lines = p.stdout.splitlines()
    assert lines[0] == f"{prefix} ambiguous"
    assert lines[1].startswith(f"{oid.hex()} blob ")


def test_an_overlong_line_is_missing_and_the_next_is_answered(rdir):
    ids = _repo(rdir)
    p = invoke(rdir, "cat-object", "--batch-check", input="x" * 100_000 + "\nHEAD\n", check=True)
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and lines[0].endswith(" missing") and lines[1].startswith(ids[0])


def test_answers_are_flushed_one_by_one_for_a_coprocess(rdir):
    ids = _repo(rdir)
    proc = subprocess.Popen([sys.executable, "-m", "trace_cli.main", "-C", rdir, "cat-object",
                             "--batch-check"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    try:
        for want in ids:        # each answer arrives before the next name is written
            proc.stdin.write(f"{want}\n".encode())
            proc.stdin.flush()
            assert proc.stdout.readline().decode().split(" ")[0] == want
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_a_damaged_object_ends_the_batch_with_one_line(rdir):
    _repo(rdir)
    head = invoke(rdir, "rev-parse", "HEAD", check=True).stdout.strip()
    jdir = os.path.join(rdir, ".trace", "objects", "journal")
    (name,) = [n for n in os.listdir(jdir) if n.endswith(".journal")]
    path = os.path.join(jdir, name)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    last = jn.scan(bytes(data)).records[-1]      # the last record written: HEAD's commit
    data[last[2] + 2] ^= 0x04
    with open(path, "wb") as f:
        f.write(data)
    p = invoke(rdir, "cat-object", "--batch-check", input=f"nosuch\n{head}\nHEAD~1\n")
    assert p.stdout.splitlines() == ["nosuch missing"]      # answers before it stand
    assert_one_line_error(p)


def test_batch_usage_errors(rdir):
    _repo(rdir)
    for args in (["--batch", "HEAD"], ["--batch", "-p"], ["--batch", "--batch-check"], []):
        p = invoke(rdir, "cat-object", *args, input="HEAD\n")
        assert p.returncode == 2 and p.stdout == "", (args, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr
