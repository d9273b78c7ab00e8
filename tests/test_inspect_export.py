"""Bundles (trace export / trace import, docs/inspect.md): lossless round trips of generated
histories, refused conflicts, damaged bundles refused whole, and the flat message table."""

from __future__ import annotations

import base64
import io
import json
import os

import pytest
from conftest import assert_one_line_error, invoke, invoke_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trace_core.errors import InputError, RefConflict, TraceError
from trace_core.fsck import fsck
from trace_core.repository import Repository


def _new(path) -> Repository:
    return Repository.init(str(path), encoding="chars/4")


def _bundle(repo, *revs, all=True) -> bytes:
    return "".join(repo.export(revs, all=all and not revs)).encode()


def _refs(repo) -> list:
    return [json.loads(x) for x in repo.export(all=True) if '"type":"ref"' in x]


def _state(repo) -> tuple:
    """Everything a bundle carries, as the repository holds it: the stored object ids that the
    refs reach and every ref's value (the export of all of it)."""
    return tuple(repo.export(all=True))


def _objects(repo) -> set:
    return {oid for oid, _t in repo.store.iter_objects()}


def _errors(repo) -> list:
    return [f for f in fsck(repo) if f.severity == "error"]


# -- generated histories -----------------------------------------------------------------------
STEP = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(["user", "assistant"]),
              st.text(min_size=0, max_size=12)),
    st.tuples(st.just("edit"), st.integers(0, 20), st.text(max_size=8)),
    st.tuples(st.just("pin"), st.integers(0, 20)),
    st.tuples(st.just("drop"), st.integers(0, 20)),
    st.tuples(st.just("branch"), st.sampled_from(["a", "b"])),
    st.tuples(st.just("merge"), st.sampled_from(["main", "a", "b"])),
    st.tuples(st.just("compress")),
    st.tuples(st.just("agent"), st.sampled_from(["kid", "other"]), st.integers(0, 2)),
    st.tuples(st.just("tag"), st.sampled_from(["v1", "v2"])),
)


def _play(repo, steps) -> None:
    """Apply generated steps; a step that the repository refuses (an index out of range, a
    branch that does not exist) is skipped."""
    for step in steps:
        kind, *args = step
        n = len(repo.messages())
        try:
            if kind == "append":
                repo.append({"role": args[0], "content": args[1]})
            elif kind == "edit" and n:
                repo.edit(args[0] % n, {"role": "user", "content": args[1]})
            elif kind == "pin" and n:
                repo.pin(args[0] % n)
            elif kind == "drop" and n:
                repo.drop(args[0] % n, force=True)
            elif kind == "branch":
                exists = repo.refs.read(f"refs/heads/{args[0]}") is not None
                repo.switch(args[0], create=not exists)
            elif kind == "merge":
                repo.merge(args[0], strategy="union")
            elif kind == "compress" and n >= 2:
                repo.compress(entries=(0, n), force=True, keep_last=0, allow_growth=True)
            elif kind == "tag":
                repo.tag_create(args[0], force=True)
            elif kind == "agent" and n:
                name, rounds = args
                if name in repo.agents():
                    continue
                repo.spawn(name, task=f"look into {name}")
                kid = repo.agent(name)
                for i in range(rounds):
                    kid.append({"role": "assistant", "content": f"{name} found {i}"})
                if rounds:
                    repo.collapse(name)
        except TraceError:
            continue


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=14))
@example(steps=[("append", "user", "q"), ("branch", "a"), ("append", "assistant", "on a"),
                ("pin", 0), ("branch", "main"), ("append", "assistant", "on main"),
                ("edit", 1, "q2"), ("merge", "a"), ("agent", "kid", 2), ("compress",),
                ("drop", 0), ("tag", "v1"), ("agent", "other", 0)])
def test_round_trip_recreates_identical_ids_and_refs(tmp_path_factory, steps):
    base = tmp_path_factory.mktemp("rt")
    with _new(base / "src") as src:
        src.append({"role": "system", "content": "you are a test"})
        _play(src, steps)
        data = _bundle(src)
        with _new(base / "dst") as dst:
            report = dst.import_bundle(io.BytesIO(data))
            assert _state(dst) == _state(src)
            assert report.written == report.objects == data.count(b'"raw":')
            assert _errors(dst) == []
            assert dst.agents() == src.agents()
            assert dst.messages() == src.messages()
            # a second import changes nothing and conflicts with nothing
            again = dst.import_bundle(io.BytesIO(data))
            assert again.written == 0 and again.refs == []
            assert _state(dst) == _state(src)


def _history(repo) -> None:
    repo.append({"role": "system", "content": "sys"})
    repo.append({"role": "user", "content": "question"})
    repo.switch("side", create=True)
    repo.append({"role": "assistant", "content": "side answer"})
    repo.switch("main")
    repo.append({"role": "assistant", "content": "main answer"})
    repo.merge("side", strategy="union")
    repo.spawn("kid", task="dig")
    repo.agent("kid").append({"role": "assistant", "content": "dug: 42"})
    repo.collapse("kid")
    repo.compress(entries=(1, 3), force=True, keep_last=0, allow_growth=True)


def test_bundle_order_links_come_first_and_lines_are_readable(repo):
    _history(repo)
    seen: set = set()
    lines = [json.loads(x) for x in repo.export(all=True)]
    assert lines[0] == {"type": "header", "format": "trace-bundle", "version": 1,
                        "encoding": "chars/4"}
    assert lines[-1]["type"] == "end"
    kinds = [x["type"] for x in lines[1:-1]]
    assert set(kinds) == {"blob", "node", "snapshot", "commit", "ref"} - (
        set() if "node" in kinds else {"node"})
    first_ref = kinds.index("ref")
    assert all(k == "ref" for k in kinds[first_ref:])
    for x in lines[1:first_ref + 1]:
        if x["type"] == "commit":
            assert all(p in seen for p in x["parents"]) and x["snapshot"] in seen
            assert all(b in seen for b in x["blobs"])
        if x["type"] == "snapshot":
            assert all(e[0] in seen for e in x["tail"])
            assert x["root"] is None or x["root"] in seen
        seen.add(x["id"])
    spawn = next(x for x in lines if x.get("op") == "spawn" and "children" in x["meta"])
    # meta bytes are marked, and the child root they name came earlier
    kid = spawn["meta"]["children"]
    marked = [v["$bin"] for v in _bins(kid)]
    assert marked and all(m in seen for m in marked)
    blob = next(x for x in lines if x["type"] == "blob")
    assert base64.b64decode(blob["raw"])   # and the message is plain JSON
    assert {"role", "content"} <= set(blob["message"])
    agents = {x["agent"] for x in lines if x["type"] == "ref"}
    assert agents == {None, "kid"}


def _bins(value) -> list:
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return [value]
        return [b for v in value.values() for b in _bins(v)]
    if isinstance(value, list):
        return [b for v in value for b in _bins(v)]
    return []


def test_export_of_named_revisions_carries_their_refs_only(repo, tmp_path):
    _history(repo)
    lines = [json.loads(x) for x in repo.export(["side", "main~1"])]
    refs = [(x["agent"], x["name"]) for x in lines if x["type"] == "ref"]
    assert refs == [(None, "refs/heads/side")]
    head = [json.loads(x) for x in repo.export()]
    refs = {(x["name"], x.get("target")) for x in head if x["type"] == "ref"}
    assert refs == {("HEAD", "refs/heads/main"), ("refs/heads/main", None)}
    # HEAD's bundle still carries the child's commits its spawn and collapse name
    assert sum(1 for x in head if x.get("author") == "kid") >= 1
    with _new(tmp_path / "dst") as dst:
        dst.import_bundle(io.BytesIO("".join(repo.export()).encode()))
        assert dst.messages() == repo.messages()
        assert _errors(dst) == []


def test_conflicting_refs_are_refused_then_namespaced_or_forced(repo, tmp_path):
    _history(repo)
    data = _bundle(repo)
    with _new(tmp_path / "dst") as dst:
        dst.append({"role": "user", "content": "mine"})
        before = _objects(dst), _refs(dst)
        with pytest.raises(RefConflict, match="refs/heads/main"):
            dst.import_bundle(io.BytesIO(data))
        assert (_objects(dst), _refs(dst)) == before   # nothing written
        rep = dst.import_bundle(io.BytesIO(data), namespace="alice")
        names = {n for _a, n, _v in rep.refs}
        assert "refs/imported/alice/heads/main" in names
        assert "refs/imported/alice/agents/kid/heads/main" in names
        assert dst.refs.read("refs/imported/alice/heads/main") == repo.refs.read(
            "refs/heads/main")
        assert dst.refs.read("refs/imported/alice/HEAD") == "ref:refs/imported/alice/heads/main"
        assert dst.refs.read("refs/heads/main") == before[1][1]["id"]   # untouched
        assert _errors(dst) == []
        dst.import_bundle(io.BytesIO(data), force=True)
        assert dst.refs.read("refs/heads/main") == repo.refs.read("refs/heads/main")
        assert dst.agent("kid").messages() == repo.agent("kid").messages()


def _damage(data: bytes, how: str) -> bytes:
    lines = data.splitlines(keepends=True)
    i = next(n for n, x in enumerate(lines) if b'"type":"commit"' in x)
    obj = json.loads(lines[i])
    if how == "hash":
        raw = bytearray(base64.b64decode(obj["raw"]))
        raw[-1] ^= 1
        obj["raw"] = base64.b64encode(bytes(raw)).decode()
    elif how == "view":
        obj["message"] = obj["message"] + "!"
    elif how == "type":
        obj["type"] = "blob"
    elif how == "tokens":
        obj["tokens"] = "many"
    elif how == "junk":
        return b"".join([*lines[:i], b"this is not json\n", *lines[i:]])
    elif how == "truncated":
        return b"".join(lines[:-3])
    elif how == "cut":
        return data[: len(data) // 2]
    elif how == "order":
        return b"".join([*lines[:1], lines[i], *lines[1:i], *lines[i + 1:]])
    elif how == "dupe-key":
        return b"".join([*lines[:i], lines[i][:-2] + b',"op":"x"}\n', *lines[i + 1:]])
    elif how == "header":
        return b'{"type":"header","format":"trace-bundle","version":99}\n' + b"".join(lines[1:])
    lines[i] = (json.dumps(obj) + "\n").encode()
    return b"".join(lines)


@pytest.mark.parametrize("how,text", [
    ("hash", "hash mismatch"), ("view", "disagree with the raw bytes (message)"),
    ("type", "type blob but the bytes are a commit"), ("tokens", "(tokens)"),
    ("junk", "not a JSON object"), ("truncated", "truncated bundle"),
    ("cut", "bundle line"), ("order", "neither earlier in the bundle"),
    ("dupe-key", "not a JSON object"), ("header", "unsupported bundle version 99")])
def test_damaged_bundles_are_refused_whole(repo, tmp_path, how, text):
    _history(repo)
    bad = _damage(_bundle(repo), how)
    with _new(tmp_path / "dst") as dst:
        before = _objects(dst), _refs(dst)
        with pytest.raises(InputError, match="bundle") as exc:
            dst.import_bundle(io.BytesIO(bad))
        assert text in str(exc.value) and "\n" not in str(exc.value)
        assert (_objects(dst), _refs(dst)) == before


def test_bad_ref_lines_and_huge_lines(repo, tmp_path, monkeypatch):
    repo.append({"role": "user", "content": "x" * 500})
    data = _bundle(repo)
    head, *rest = data.splitlines(keepends=True)
    cases = {
        b'{"type":"ref","agent":null,"name":"refs/heads/../x","id":"' + b"a" * 64 + b'"}\n':
            "bad ref",
        b'{"type":"ref","agent":null,"name":"refs/heads/y","id":"' + b"a" * 64 + b'"}\n':
            "not a commit",
        b'{"type":"ref","agent":"../up","name":"refs/heads/y","target":"refs/heads/main"}\n':
            "bad ref",
        b'{"type":"ref","agent":null,"name":"HEAD","target":"refs/tags/main"}\n':
            "HEAD may not point at refs/tags/main",
        b'{"type":"mystery"}\n': "unknown line type",
        b'{"type":"ref","agent":null,"name":"MERGE_HEAD","id":"' + b"a" * 64 + b'"}\n':
            "MERGE_HEAD belongs to a stopped operation",
        b'[1, 2]\n': "not a bundle line",
    }
    with _new(tmp_path / "dst") as dst:
        for line, text in cases.items():
            bad = b"".join([head, *rest[:-1], line, rest[-1]])
            with pytest.raises(InputError, match=text):
                dst.import_bundle(io.BytesIO(bad))
        with pytest.raises(InputError, match="bundle line 2: longer than 400 bytes"):
            dst.import_bundle(io.BytesIO(data), max_line=400)
        import trace_core.inspect.importer as imp
        monkeypatch.setattr(imp, "MAX_LINE_BYTES", 300)
        p = invoke(dst.trace_dir, "import", "-", input=data)
        assert_one_line_error(p, "bundle line 2: longer than 300 bytes")
        assert dst.head_commit() is None and _objects(dst) == set()
        with pytest.raises(InputError, match="empty bundle"):
            dst.import_bundle(io.BytesIO(b""))


def test_symbolic_ref_loops_are_refused(repo, tmp_path):
    repo.user("x")
    data = _bundle(repo)
    head, *rest = data.splitlines(keepends=True)
    loop = (b'{"type":"ref","agent":null,"name":"refs/heads/a","target":"refs/heads/b"}\n'
            b'{"type":"ref","agent":null,"name":"refs/heads/b","target":"refs/heads/a"}\n')
    end = json.loads(rest[-1])
    end["refs"] += 2
    bad = b"".join([head, *rest[:-1], loop, json.dumps(end).encode() + b"\n"])
    with _new(tmp_path / "dst") as dst:
        before = sorted(os.listdir(dst.trace_dir))
        with pytest.raises(InputError, match="loops through refs/heads/"):
            dst.import_bundle(io.BytesIO(bad))
        assert sorted(os.listdir(dst.trace_dir)) == before and dst.head_commit() is None
        for_end = json.loads(rest[-1])
        for_end["objects"] = float(for_end["objects"])     # 3.0 == 3 in Python, not in JSON
        with pytest.raises(InputError, match="end line counts"):
            dst.import_bundle(io.BytesIO(b"".join([head, *rest[:-1],
                                                   json.dumps(for_end).encode() + b"\n"])))


def test_cli_export_import_round_trip_and_errors(rdir, tmp_path):
    assert invoke(rdir, "commit", "hello there").returncode == 0
    assert invoke(rdir, "--agent", "helper", "--create", "commit", "side").returncode == 0
    out = str(tmp_path / "b.jsonl")
    p = invoke(rdir, "export", "--all", "-o", out)
    assert p.returncode == 0 and p.stdout == ""
    p2 = invoke(rdir, "export", "--all")
    with open(out, encoding="utf-8") as f:
        assert p2.stdout == f.read()
    dst = str(tmp_path / "d")
    assert invoke_cli("init", "--encoding", "chars/4", "-q", dst).returncode == 0
    p = invoke(dst, "import", out)
    assert p.returncode == 0, p.stderr
    assert "refs set" in p.stdout
    assert invoke(dst, "export", "--all").stdout == p2.stdout
    p = invoke(dst, "import", "--json", out)
    assert json.loads(p.stdout)["written"] == 0
    with open(out, "a", encoding="utf-8") as f:
        f.write("garbage\n")
    assert_one_line_error(invoke(dst, "import", out), "bundle line", "after the end line")
    assert_one_line_error(invoke(dst, "import", str(tmp_path / "nope")), "cannot read bundle")
    assert_one_line_error(invoke(rdir, "export", "--all", "main"), "either --all")
    assert_one_line_error(invoke(rdir, "export", "nope"), "nope")
    assert_one_line_error(invoke(rdir, "export", "-o", str(tmp_path / "no" / "f")),
                          "cannot write")
    sub = [json.loads(x) for x in invoke(rdir, "--agent", "helper", "export").stdout.splitlines()]
    assert {(x["agent"], x["name"]) for x in sub if x["type"] == "ref"} == {
        ("helper", "HEAD"), ("helper", "refs/heads/main")}
    other = str(tmp_path / "o")
    invoke_cli("init", "--encoding", "chars/4", "-q", other)
    invoke(other, "commit", "different", check=True)
    assert_one_line_error(invoke(other, "import", "-", input=p2.stdout.encode()),
                          "refs/heads/main", "nothing imported")


def test_messages_table(repo):
    _history(repo)
    rows = list(repo.export_messages(all=True))
    keys = {"agent", "commit", "op", "index", "position", "role", "tokens", "time", "time_ms",
            "text"}
    assert rows and all(set(r) == keys for r in rows)
    first = rows[0]
    assert (first["op"], first["role"], first["text"], first["position"]) == (
        "append", "system", "sys", 0)
    assert any(r["agent"] == "kid" and r["text"] == "dug: 42" for r in rows)
    assert any(r["op"] == "collapse" for r in rows)
    assert any(r["op"] == "compress" and r["position"] is None for r in rows)
    assert all(isinstance(r["tokens"], int) and r["tokens"] > 0 for r in rows)
    assert rows[0]["time"].startswith("20") and rows[0]["time_ms"] > 0
    # one row per message each commit introduced: a commit's rows count its carried blobs
    commits = {json.loads(x)["id"]: json.loads(x) for x in repo.export(all=True)
               if '"type":"commit"' in x}
    for cid, c in commits.items():
        assert sum(r["commit"] == cid for r in rows) == len(c["blobs"])


def test_cli_messages_lines_are_json(rdir):
    invoke(rdir, "commit", "one", check=True)
    invoke(rdir, "commit", "--role", "assistant", "two", check=True)
    p = invoke(rdir, "export", "--messages")
    rows = [json.loads(x) for x in p.stdout.splitlines()]
    assert [(r["role"], r["text"], r["index"]) for r in rows] == [
        ("user", "one", 0), ("assistant", "two", 0)]
    assert os.path.isdir(rdir)


def test_large_context_nodes_round_trip(repo, tmp_path):
    repo.append_many([{"role": "user", "content": f"message {i}"} for i in range(600)])
    lines = [json.loads(x) for x in repo.export()]
    nodes = [x for x in lines if x["type"] == "node"]
    assert any(x["level"] == 0 for x in nodes) and all(
        ("entries" in x) == (x["level"] == 0) for x in nodes)
    with _new(tmp_path / "dst") as dst:
        dst.import_bundle(io.BytesIO(_bundle(repo)))
        assert _state(dst) == _state(repo) and _errors(dst) == []
