"""The provenance a compress commit records in its `meta`, and reading it back (docs/FORMAT.md
§6.4.2, "Compress commits"). Ids are lowercase hex strings, as in every operation's meta.

A replaced entry is recorded as `[index, blob, commit, tokens, flags, kind]`: its index in the
parent's context, its blob id, the position in `meta.commits` of the commit that introduced it,
its tokens, its flags, and its kind: "entry" (an ordinary entry), "summary" or "masked" (made by
the earlier compress commit `meta.commits[commit]`, whose own meta says what it replaced).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import OperationError
from ..ids import from_hex, is_hex_id, to_hex

if TYPE_CHECKING:
    from ..objects import Commit
    from ..state import RepoState

VERSION = 1


def produced(commit: Commit | None) -> dict[bytes, str]:
    """{blob id (raw): "summary" | "masked"} for the entries a compress commit created."""
    if commit is None or commit.op != "compress":
        return {}
    meta = commit.meta or {}
    out: dict[bytes, str] = {}
    for key, kind in (("summaries", "summary"), ("masked", "masked")):
        for s in meta.get(key) or []:
            if isinstance(s, dict) and isinstance(s.get("blob"), str) and is_hex_id(s["blob"]):
                out[from_hex(s["blob"])] = kind
    return out


def inference_total(results: list[Any]) -> dict:
    """The operation-level `inference` of several calls, in the shape every operation uses:
    {"provider", "model", "prompt_tokens", "completion_tokens", "cost_usd"} (cost None when
    any call's cost is unknown; provider/model of the first call)."""
    calls = [r for r in results if isinstance(r, dict)]
    costs = [r.get("cost_usd") for r in calls]
    return {"provider": calls[0].get("provider") if calls else None,
            "model": calls[0].get("model") if calls else None,
            "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in calls),
            "completion_tokens": sum(int(r.get("completion_tokens") or 0) for r in calls),
            "cost_usd": None if any(c is None for c in costs)
            else round(sum(c for c in costs if c is not None), 10)}


def runs(actions: list[str]) -> list:
    """Run-length form of the plan's actions: [[action, count], ...] in commit order."""
    out: list = []
    for a in actions:
        if out and out[-1][0] == a:
            out[-1][1] += 1
        else:
            out.append([a, 1])
    return out


def actions(meta: dict) -> list[str]:
    """The plan's action for each of `meta.commits`, in order."""
    out: list[str] = []
    for item in meta.get("plan") or []:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], int):
            out.extend([item[0]] * item[1])
    return out


def record(index: int, blob: bytes, commit_pos: int, tokens: int, flags: int, kind: str) -> list:
    return [index, to_hex(blob), commit_pos, tokens, flags, kind]


def _rec(r: Any, commits: list[str]) -> dict:
    if not isinstance(r, list) or len(r) != 6:
        raise OperationError("malformed compress provenance record")
    idx, blob, pos, tokens, flags, kind = r
    commit = commits[pos] if isinstance(pos, int) and 0 <= pos < len(commits) else None
    return {"index": idx, "blob": blob if isinstance(blob, str) else None,
            "commit": commit, "tokens": tokens, "flags": flags,
            "pinned": bool(isinstance(flags, int) and flags & 1), "kind": kind}


def describe(commit: Commit) -> dict:
    """A compress commit's meta with ids as hex and records as dicts (for show and --json)."""
    if commit.op != "compress":
        raise OperationError(f"commit {commit.hex[:12]} is a {commit.op} commit, not compress")
    m = commit.meta or {}
    commits = [c for c in m.get("commits") or [] if isinstance(c, str)]

    def group(items, key="replaced"):
        out = []
        for s in items or []:
            d = {k: v for k, v in s.items() if k != key}
            d[key] = [_rec(r, commits) for r in s.get(key) or []]
            out.append(d)
        return out

    out = {k: v for k, v in m.items() if k not in ("commits", "plan", "summaries", "masked",
                                                   "dropped")}
    out["commits"] = [{"commit": h, "action": a} for h, a in zip(commits, actions(m), strict=False)]
    out["summaries"] = group(m.get("summaries"))
    out["masked"] = group(m.get("masked"))
    out["dropped"] = [_rec(r, commits) for r in m.get("dropped") or []]
    return out


def trace_back(repo: RepoState, commit_id: bytes, blob: bytes | str,
               _depth: int = 0) -> list[dict]:
    """The original entries a summary (or masked entry) `blob` (raw or hex id) made by the
    compress commit `commit_id` stands for, following summaries of summaries down to ordinary
    entries. Each item: {"commit": the commit that introduced it, "blob", "tokens", "via": [the
    compress commits walked through, newest first]}."""
    if _depth > 256:
        raise OperationError("compress provenance nested too deeply")
    want = to_hex(blob) if isinstance(blob, bytes) else blob
    c = repo.get_commit(commit_id)
    m = c.meta or {}
    commits = m.get("commits") or []
    for key in ("summaries", "masked"):
        for s in m.get(key) or []:
            if s.get("blob") != want:
                continue
            out: list[dict] = []
            for r in s.get("replaced") or []:
                d = _rec(r, commits)
                if d["kind"] in ("summary", "masked") and d["commit"] and is_hex_id(d["commit"]):
                    for leaf in trace_back(repo, from_hex(d["commit"]), d["blob"], _depth + 1):
                        leaf["via"].insert(0, to_hex(commit_id))
                        out.append(leaf)
                else:
                    out.append({"commit": d["commit"], "blob": d["blob"], "tokens": d["tokens"],
                                "via": [to_hex(commit_id)]})
            return out
    raise OperationError(f"commit {to_hex(commit_id)[:12]} did not create entry {str(want)[:12]}")


def show_lines(info: dict, width: int = 100) -> list[str]:
    """Human-readable lines for a described compress commit (see `describe`)."""
    lines = [f"Compress: {info.get('strategy')} / {info.get('granularity')} over "
             f"{info.get('range', '')}"]
    tok = info.get("tokens") or {}
    if tok:
        lines.append(f"Tokens:   {tok.get('before')} -> {tok.get('after')} in context "
                     f"({tok.get('replaced')} replaced by {tok.get('added')})")
    if info.get("usage"):
        u = info["usage"]
        lines.append("Usage:    " + ", ".join(f"{k}={u[k]}" for k in sorted(u)))
    lines.append("Plan:")
    for c in info.get("commits") or []:
        lines.append(f"  {c['action']:<9} {c['commit'][:12]}")
    for s in info.get("summaries") or []:
        lines.append(f"Summary #{s.get('index')} ({s.get('tokens')} tokens, blob "
                     f"{(s.get('blob') or '')[:12]}) replaces {_span(s['replaced'])}")
        for r in s["replaced"]:
            lines.append("  " + _rec_line(r))
    for s in info.get("masked") or []:
        r = s["replaced"][0] if s["replaced"] else {}
        lines.append(f"Masked #{s.get('index')} ({r.get('tokens')} -> {s.get('tokens')} tokens) "
                     f"was {(r.get('blob') or '')[:12]} from {(r.get('commit') or '')[:12]}")
    for r in info.get("dropped") or []:
        lines.append("Dropped " + _rec_line(r))
    by_reason: dict[str, list[str]] = {}
    for k in info.get("kept") or []:
        if isinstance(k, list) and len(k) == 3 and k[2] != "outside":
            by_reason.setdefault(str(k[2]), []).append(f"#{k[0]}→#{k[1]}")
    for why, idx in by_reason.items():
        lines.append(f"Kept verbatim ({why}): " + " ".join(idx))
    return [ln[:width] if len(ln) > width else ln for ln in lines]


def _span(recs: list[dict]) -> str:
    if not recs:
        return "nothing"
    return (f"{len(recs)} entr{'y' if len(recs) == 1 else 'ies'} "
            f"(#{recs[0]['index']}-#{recs[-1]['index']})")


def _rec_line(r: dict) -> str:
    extra = f" [{r['kind']}]" if r.get("kind") != "entry" else ""
    pin = " pinned" if r.get("pinned") else ""
    return (f"#{r['index']} blob {(r.get('blob') or '')[:12]} from {(r.get('commit') or '')[:12]} "
            f"{r.get('tokens')} tokens{pin}{extra}")
