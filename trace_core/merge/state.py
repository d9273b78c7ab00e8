"""The state of a merge, rebase, cherry-pick or revert that stopped on conflicts.

One JSON file, `MERGE_STATE`, next to the namespace's HEAD (docs/FORMAT.md §13), replaced
atomically on every change. The branch is not moved until the operation finishes, so removing
this file (`--abort`) restores exactly the state before the operation started.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import MergeInProgress, OperationError, StateError, TraceError
from ..ids import is_hex_id
from ..objects import Entry
from ..storage.lockfile import write_file_atomic
from .merge3 import KINDS, ORDERS, Conflict

if TYPE_CHECKING:
    from ..state import RepoState

STATE_FILE = "MERGE_STATE"
STATE_FORMAT = 1
OPS = ("merge", "rebase", "cherry-pick", "revert")
ACTIONS = ("ours", "theirs", "both", "base", "drop", "text")
STRATEGIES = ("manual", "ours", "theirs", "union", "semantic")
DRIVERS = (None, "deterministic", "llm")
MAX_STATE_BYTES = 256 * 1024 * 1024


def _entry(e: Entry) -> list:
    return [e.blob.hex(), e.flags]


def _parse_entry(v: Any) -> Entry:
    if (not isinstance(v, list) or len(v) != 2 or not isinstance(v[0], str) or not is_hex_id(v[0])
            or not isinstance(v[1], int) or isinstance(v[1], bool)):
        raise ValueError("bad entry")
    return Entry(bytes.fromhex(v[0]), v[1])


def _rebase_doc(v: Any) -> dict:
    if (not isinstance(v, dict) or set(v) != {"onto", "todo", "done"}
            or _hex_or_none(v["onto"]) is None or not isinstance(v["todo"], list)
            or not isinstance(v["done"], list)):
        raise ValueError("bad rebase progress")
    for t in v["todo"]:
        if _hex_or_none(t) is None:
            raise ValueError("bad rebase todo")
    for d in v["done"]:
        if not isinstance(d, list) or len(d) != 2 or _hex_or_none(d[0]) is None:
            raise ValueError("bad rebase done")
        _hex_or_none(d[1])
    return v


def _hex_or_none(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not is_hex_id(v):
        raise ValueError("bad commit id")
    return v


class MergeState:
    """Everything needed to finish or abort a stopped operation (see docs/merge.md)."""

    def __init__(self, op: str, ref: str, orig_head: str | None, ours: str | None,
                 theirs: str, base: str | None, *, theirs_name: str = "",
                 strategy: str = "manual", order: str = "ours-first", message: str = "",
                 prefix: int = 0, suffix: int = 0, slots: list | None = None,
                 conflicts: Sequence[Conflict] = (), inference: dict | None = None,
                 driver: str | None = None, rebase: dict | None = None,
                 deduplicated: int = 0) -> None:
        self.op = op
        self.ref = ref
        self.orig_head = orig_head
        self.ours = ours
        self.theirs = theirs
        self.base = base
        self.theirs_name = theirs_name
        self.strategy = strategy
        self.order = order
        self.message = message
        self.prefix = prefix
        self.suffix = suffix
        self.slots = slots or []          # Entry | Conflict | ("o", start, end) runs of ours
        self.conflicts = list(conflicts)
        self.inference = inference
        self.driver = driver
        self.rebase = rebase
        self.deduplicated = deduplicated

    # -- queries ----------------------------------------------------------------------------------
    @property
    def open_conflicts(self) -> list[Conflict]:
        return [c for c in self.conflicts if not c.resolved]

    def conflict(self, cid: int) -> Conflict:
        for c in self.conflicts:
            if c.id == cid:
                return c
        ids = ", ".join(str(c.id) for c in self.conflicts) or "none"
        raise OperationError(f"no conflict {cid} in the {self.op} in progress (conflicts: {ids})")

    # -- bytes --------------------------------------------------------------------------------
    def to_json(self) -> bytes:
        slots: list[dict[str, Any]] = []
        for s in self.slots:
            if isinstance(s, Conflict):
                slots.append({"c": s.id})
            elif isinstance(s, tuple):
                slots.append({"o": [s[1], s[2]]})
            else:
                slots.append({"e": _entry(s)})
        doc = {
            "format": STATE_FORMAT, "op": self.op, "ref": self.ref, "orig_head": self.orig_head,
            "ours": self.ours, "theirs": self.theirs, "base": self.base,
            "theirs_name": self.theirs_name, "strategy": self.strategy, "order": self.order,
            "message": self.message, "prefix": self.prefix, "suffix": self.suffix,
            "slots": slots, "deduplicated": self.deduplicated, "inference": self.inference,
            "driver": self.driver, "rebase": self.rebase,
            "conflicts": [{
                "id": c.id, "kind": c.kind, "note": c.note,
                "base": _entry(c.base) if c.base is not None else None,
                "ours": [_entry(e) for e in c.ours], "theirs": [_entry(e) for e in c.theirs],
                "resolution": None if c.resolution is None else [_entry(e) for e in c.resolution],
                "action": c.action, "by": c.by,
            } for c in self.conflicts],
        }
        return (json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> MergeState:
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
                raise ValueError("unknown format")
            if doc["op"] not in OPS or not isinstance(doc["ref"], str):
                raise ValueError("bad op")
            conflicts = []
            by_id = {}
            for d in doc["conflicts"]:
                if d["kind"] not in KINDS or not isinstance(d["id"], int):
                    raise ValueError("bad conflict")
                c = Conflict(d["kind"], _parse_entry(d["base"]) if d["base"] is not None else None,
                             [_parse_entry(e) for e in d["ours"]],
                             [_parse_entry(e) for e in d["theirs"]], str(d.get("note", "")))
                c.id = d["id"]
                if d["resolution"] is not None:
                    if d["action"] not in ACTIONS:
                        raise ValueError("bad action")
                    c.resolution = [_parse_entry(e) for e in d["resolution"]]
                    c.action, c.by = d["action"], str(d["by"])
                conflicts.append(c)
                by_id[c.id] = c
            slots: list = []
            for s in doc["slots"]:
                if "c" in s:
                    slots.append(by_id[s["c"]])
                elif "o" in s:
                    a, b = s["o"]
                    if not (isinstance(a, int) and isinstance(b, int) and 0 <= a <= b):
                        raise ValueError("bad run")
                    slots.append(("o", a, b))
                else:
                    slots.append(_parse_entry(s["e"]))
            for k in ("prefix", "suffix", "deduplicated"):
                if not isinstance(doc[k], int) or isinstance(doc[k], bool) or doc[k] < 0:
                    raise ValueError(f"bad {k}")
            if doc["strategy"] not in STRATEGIES or doc["order"] not in ORDERS \
                    or doc["driver"] not in DRIVERS:
                raise ValueError("bad options")
            if doc["inference"] is not None and not isinstance(doc["inference"], dict):
                raise ValueError("bad inference")
            if doc["op"] == "rebase":
                _rebase_doc(doc["rebase"])
            elif doc["rebase"] is not None:
                raise ValueError("rebase progress in a non-rebase state")
            if _hex_or_none(doc["theirs"]) is None and doc["op"] != "rebase":
                raise ValueError("no commit to merge")
            for k in ("message", "theirs_name", "ref"):
                if not isinstance(doc[k], str):
                    raise ValueError(f"bad {k}")
            from ..refs import check_writable
            try:
                check_writable(doc["ref"])
            except TraceError:
                raise ValueError("bad ref name") from None
            return cls(doc["op"], doc["ref"], _hex_or_none(doc["orig_head"]),
                       _hex_or_none(doc["ours"]), _hex_or_none(doc["theirs"]) or "",
                       _hex_or_none(doc["base"]), theirs_name=str(doc["theirs_name"]),
                       strategy=str(doc["strategy"]), order=str(doc["order"]),
                       message=str(doc["message"]), prefix=doc["prefix"], suffix=doc["suffix"],
                       slots=slots, conflicts=conflicts, inference=doc["inference"],
                       driver=doc["driver"], rebase=doc["rebase"],
                       deduplicated=doc["deduplicated"])
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise StateError(f"{STATE_FILE} is damaged ({exc}); run 'trace merge --abort' to "
                             "remove it (the branch was never moved)") from None


def state_path(repo: RepoState) -> str:
    return os.path.join(repo.refs_root, STATE_FILE)


def load(repo: RepoState) -> MergeState | None:
    """The stopped operation of this namespace, or None. A state left behind by a process
    killed after it moved the branch (the operation is complete) is removed here."""
    from ..storage import safefs
    try:
        data = safefs.read_bytes(state_path(repo), MAX_STATE_BYTES + 1)  # never through a symlink
    except FileNotFoundError:
        return None
    if len(data) > MAX_STATE_BYTES:
        raise StateError(f"{STATE_FILE} is larger than {MAX_STATE_BYTES} bytes; run "
                         "'trace merge --abort'")
    st = MergeState.from_json(data)
    if _finished(repo, st):
        remove(repo)
        return None
    return st


def _finished(repo, st: MergeState) -> bool:
    """Whether the ref already holds the operation's result (its last step moved the branch;
    removing this file is the step after)."""
    _, now = repo.refs.resolve_target(st.ref)
    if now is None or now == st.orig_head:
        return False
    try:
        c = repo.get_commit(bytes.fromhex(now))
    except TraceError:
        return False
    parents = [p.hex() for p in c.parents]
    meta = c.meta if isinstance(c.meta, dict) else {}
    if st.op == "merge":
        return parents == [st.ours, st.theirs]
    if st.op in ("cherry-pick", "revert"):
        key = "picked" if st.op == "cherry-pick" else "reverted"
        return parents == [st.ours] and meta.get(key) == st.theirs
    rb = st.rebase or {}
    originals = set(rb.get("todo", [])) | {d[0] for d in rb.get("done", [])}
    return meta.get("replayed") in originals or now in {d[1] for d in rb.get("done", [])}


def save(repo: RepoState, state: MergeState) -> None:
    write_file_atomic(state_path(repo), state.to_json(), fsync=repo.durability == "full")


def remove(repo: RepoState) -> bool:
    try:
        os.unlink(state_path(repo))
        return True
    except FileNotFoundError:
        return False


def refuse_if_in_progress(repo: RepoState) -> None:
    try:
        st = load(repo)
        if st is None:
            return
        what = st.op
    except StateError:
        what = "merge"
    raise MergeInProgress(f"a {what} is in progress; settle it with 'trace resolve', then "
                              f"'trace {what} --continue', or 'trace {what} --abort'")
