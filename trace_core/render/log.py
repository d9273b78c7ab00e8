"""`trace log` for people and scripts: one line per commit (`--oneline`) or git's long form, with
ref decorations, each commit's token cost and the running total, and the records `--json` prints.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..commitinfo import log, start_points
from ..state import RepoState
from .labels import ref_labels

_ONELINE_COLS = ("op", "tokens", "total", "summary")
_LONG_COLS = ("tz", "author", "op", "tokens", "total", "summary")
_METERED_OPS = frozenset({"merge", "compress", "cherry-pick", "revert"})
_YELLOW = "\x1b[33m"
_RESET = "\x1b[0m"


def log_records(repo: RepoState, revs: Sequence[str] = (), *, limit: int | None = None,
                first_parent: bool = False) -> list[dict]:
    """One dict per commit, newest first (what `trace log --json` prints)."""
    return [c.to_dict() for c in log(repo, revs, limit=limit, first_parent=first_parent)]


def log_lines(repo: RepoState, revs: Sequence[str] = (), *, oneline: bool = False,
              limit: int | None = None, first_parent: bool = False,
              colors: bool = False) -> list[str]:
    """The lines of `trace log` (`--oneline` with `oneline`), ANSI-colored with `colors`."""
    inc, exc = start_points(repo, revs)
    deco = ref_labels(repo)
    if oneline:
        return _oneline(repo.index.walk_raw(inc, exc, limit, first_parent, _ONELINE_COLS), deco,
                        colors)
    return _long(repo, repo.index.walk_raw(inc, exc, limit, first_parent, _LONG_COLS), deco,
                 colors)


def _yellow(text: str, colors: bool) -> str:
    return f"{_YELLOW}{text}{_RESET}" if colors else text


def _deco(labels: list[str] | None, colors: bool) -> str:
    return _yellow(" (" + ", ".join(labels) + ")", colors) if labels else ""


def sign(op: str, tokens: int) -> str:
    """The sign shown before a commit's token cost (drops and shrinking merges remove)."""
    return "-" if op == "drop" or tokens < 0 else "+"


def _oneline(rows: Any, deco: dict, colors: bool) -> list[str]:
    """--oneline lines; rows: (id, parents, gen, time_ms, op, tokens, total, summary)."""
    return [f"{_yellow(r[0][:6].hex(), colors)}{_deco(deco.get(r[0]), colors)} {r[4]:<7} "
            f"{sign(r[4], r[5])}{abs(r[5]):<5d} {r[6]:7d}  {r[7]}" for r in rows]


def commit_date(ms: int, tz: int = 0) -> str:
    """A commit time as `YYYY-MM-DD HH:MM:SS +hhmm` in its own time zone."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000 + tz * 60)) + \
        f" {'+' if tz >= 0 else '-'}{abs(tz) // 60:02d}{abs(tz) % 60:02d}"


def inference_line(meta: Any) -> str | None:
    """`Inference: ...` for a commit whose operation called an LLM, else None."""
    inf = meta.get("inference") if isinstance(meta, dict) else None
    if not isinstance(inf, dict):
        return None
    return "Inference: " + format_inference(inf)


def format_inference(inf: dict) -> str:
    """`provider/model: P prompt + C completion tokens, $X` of an `inference` meta."""
    cost = inf.get("cost_usd")
    price = f"${cost:.6f}" if isinstance(cost, (int, float)) else "cost unknown"
    who = "/".join(str(x) for x in (inf.get("provider"), inf.get("model")) if x)
    return (f"{who + ': ' if who else ''}{inf.get('prompt_tokens', 0)} prompt + "
            f"{inf.get('completion_tokens', 0)} completion tokens, {price}")


def _long(repo: RepoState, rows: Any, deco: dict, colors: bool) -> list[str]:
    # rows: (id, parents, gen, time_ms, tz, author, op, tokens, total, summary)
    from ..index.sqlite_index import split_parents

    lines: list[str] = []
    add = lines.append
    dates: dict = {}     # many commits share a second: format each (second, zone) once
    for r in rows:
        add(_yellow(f"commit {r[0].hex()}", colors) + _deco(deco.get(r[0]), colors))
        if len(r[1]) > 32:
            add("Merge:  " + " ".join(p.hex()[:12] for p in split_parents(r[1])))
        op = r[6]
        add(f"Author: {r[5]}")
        key = ((r[3] / 1000 + r[4] * 60) // 1, r[4])    # what commit_date formats (gmtime floors)
        date = dates.get(key)
        if date is None:
            date = dates[key] = commit_date(r[3], r[4])
        add(f"Date:   {date}")
        add(f"Op:     {op}  {sign(op, r[7])}{abs(r[7])} tokens, {r[8]} in context")
        if op in _METERED_OPS:
            line = inference_line(repo.get_commit(r[0]).meta)
            if line:
                add(line)
        add("")
        add(f"    {r[9]}")
        add("")
    return lines
