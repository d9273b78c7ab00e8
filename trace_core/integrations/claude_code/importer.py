"""Writing a Claude Code transcript's units into a repository: one branch per chain, commits
carrying the transcript lines' uuids in `meta.user`, sub-agents spawned and collapsed,
compactions as compress commits; incremental (what a branch holds is read from its commits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import InputError, OperationError, TraceError
from ...repository import Repository
from . import transcript as T

K_UUID = "claude.uuid"            # the transcript lines a commit carries (space-separated)
K_TIME = "claude.timestamp"       # the first line's timestamp (ISO 8601, as Claude Code wrote it)
K_SESSION = "claude.session"
K_MESSAGE = "claude.message_id"   # an assistant response's API message id
K_COMPACT = "claude.compact"      # a compaction's trigger and tokens before it


@dataclass
class ImportReport:
    """What `import_claude_code` did: the branch, the commits it made (`new`), the transcript
    records found already imported (`known`), and the branches, sub-agents and compactions."""

    path: str
    session: str | None
    branch: str
    new: int = 0
    known: int = 0
    compactions: int = 0
    agents: list[str] = field(default_factory=list)
    rewinds: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _safe(text: str, default: str) -> str:
    """The first 8 characters of `text` a ref name may hold (letters, digits, - and _)."""
    return "".join(c for c in text if c.isalnum() or c in "-_")[:8] or default


def default_branch(session: str) -> str:
    """`claude/<the session id's first 8 characters>`."""
    return f"claude/{_safe(session, 'session')}"


def rewind_branch(branch: str, uuid: str) -> str:
    """The branch a rewound conversation's abandoned end keeps: `<branch>-rewind-<uuid[:8]>`
    (a damaged uuid cannot make the name invalid)."""
    return f"{branch}-rewind-{_safe(uuid, 'x')}"


def branch_view(repo: Repository, branch: str) -> Repository:
    """A view of `repo` whose commits go to `branch` (created by its first commit), HEAD
    untouched."""
    return repo.worktree(branch, must_exist=False)


@dataclass
class BranchState:
    """What a branch holds of a transcript: each mark (T.Unit.marks) -> the commit carrying
    it, the marks of its tip (the newest commit that has any), and the newest commit the import
    did not make when it is newer than all that have marks."""

    tip: bytes | None
    where: dict[str, bytes]
    tip_keys: set[str]
    foreign: bytes | None       # the newest commit the import did not make, if above the rest
    base: bytes | None = None   # the newest commit below the import that it did not make


def branch_state(view: Repository) -> BranchState:
    tip: bytes | None = view.head_commit()
    where: dict[str, bytes] = {}
    tip_keys: set[str] | None = None
    foreign: bytes | None = None
    base: bytes | None = None
    cid = tip
    while cid is not None:
        c = view.get_commit(cid)
        meta = c.meta or {}
        keys: set[str] = set()
        user: dict = meta["user"] if isinstance(meta.get("user"), dict) else {}
        if isinstance(user.get(K_UUID), str):
            keys.update(user[K_UUID].split())
        if c.op == "collapse" and isinstance(meta.get("call"), str):
            keys.add(f"call:{meta['call']}")
        for k in keys:
            where.setdefault(k, cid)
        if keys and tip_keys is None:
            tip_keys = keys
        elif not keys and c.op != "spawn":
            if tip_keys is None and foreign is None:
                foreign = cid
            elif tip_keys is not None and base is None:
                base = cid
        cid = c.parents[0] if c.parents else None
    return BranchState(tip, where, tip_keys or set(), foreign, base)


class Importer:
    """One import run: the repository, the report and the sub-agents of the session."""

    def __init__(self, repo: Repository, report: ImportReport,
                 groups: dict[str, list[T.Record]], names: dict[str, str]) -> None:
        self.repo, self.report = repo, report
        self.groups = groups        # agent id -> its records
        self.names = names          # agent id -> agent name
        self.synced: set[str] = set()   # agents whose records this run imported

    # -- one chain onto one branch ------------------------------------------------------------
    def run(self, view: Repository, units: list[T.Unit], *, rewinds: bool) -> None:
        """Commit the units of `units` that `view`'s branch does not hold yet. `rewinds`: when
        the branch holds records that the chain no longer has (the user rewound), keep them on
        a `-rewind-` branch and move this one back to the last unit both share."""
        state = branch_state(view)
        done = [self._done(view, u, state) for u in units]
        last = max((i for i, (u, d) in enumerate(zip(units, done, strict=True))
                    if d and u.kind != "spawn"), default=-1)    # (the last the branch holds)
        if state.foreign is not None and state.tip_keys:   # (below them: a base, fine)
            raise OperationError(
                f"branch {self._name(view)} has commits that are not from this transcript "
                f"(commit {state.foreign.hex()[:12]}); import into another branch (--branch)")
        chain_keys = set().union(*(u.marks() for u in units)) if units else set()
        if rewinds and state.tip is not None and state.tip_keys and \
                not state.tip_keys <= chain_keys:
            self._rewound(view, units, last, state)
        for i, (u, d) in enumerate(zip(units, done, strict=True)):
            if d is True:
                self.report.known += len(u.records)
                if u.kind == "spawn":
                    self._sync_agent(view, u)
            elif d is not False:        # a partly imported response: the rest of its lines
                self._apply(view, d)
            elif i > last:              # (never before what the branch holds: a unit skipped
                self._apply(view, u)    # then, e.g. a message refused with a warning, stays so)

    def _name(self, view: Repository) -> str:
        from ...refs import shorten
        return shorten(view.head_ref)

    def _done(self, view: Repository, u: T.Unit, state: BranchState) -> Any:
        """True when the branch holds `u`; for a response whose first lines it holds, the
        unit of the other lines; else False."""
        if u.kind == "spawn":
            return self._agent_known(view, u)
        keys = u.marks()
        if u.kind == "collapse":
            return bool(keys & state.where.keys())
        have = [k in state.where for k in u.uuids]
        if all(have):
            return True
        if any(have) and u.kind == "message" and u.message and u.message["role"] == "assistant":
            rest = [r for r, h in zip(u.records, have, strict=True) if not h]
            self.report.known += len(u.records) - len(rest)
            return T.Unit("message", rest, T._assistant_message(rest))
        return False

    def _agent_known(self, view: Repository, u: T.Unit) -> bool:
        try:
            return view.agent(u.agent or "").agent_exists()
        except TraceError:
            return False

    def _rewound(self, view: Repository, units: list[T.Unit], last: int,
                 state: BranchState) -> None:
        """Keep the branch's abandoned tip on a `-rewind-` branch, move it back to `last`."""
        from ...plumbing.refs import create_ref
        tip = state.tip
        assert tip is not None
        leaf = sorted(k for k in state.tip_keys if ":" not in k) or ["tip"]
        user = (view.get_commit(tip).meta or {}).get("user") or {}
        ids = str(user.get(K_UUID, "")).split() or leaf
        name = rewind_branch(self._name(view), ids[-1])
        if self.repo.refs.read(f"refs/heads/{name}") is None:
            create_ref(self.repo, f"refs/heads/{name}", tip.hex(),
                       message="claude-code import: rewound conversation")
        self.report.rewinds.append(name)
        back = None
        for u in reversed(units[:last + 1]):
            hit = [state.where[k] for k in u.marks() if k in state.where]
            if hit:
                back = hit[0]
                break
        if back is None:
            raise OperationError(f"branch {self._name(view)}: the transcript was rewound to "
                                 f"before its first imported record; its old tip is kept on "
                                 f"{name}; import into another branch (--branch)")
        view.reset(back.hex(), mode="hard")

    # -- applying one unit ---------------------------------------------------------------------
    def _meta(self, records: list[T.Record], **extra: str) -> dict[str, str]:
        meta = {K_UUID: " ".join(r.uuid for r in records)}
        ts = records[0].data.get("timestamp") if records else None
        if isinstance(ts, str) and ts:
            meta[K_TIME] = ts[:64]
        sid = records[0].data.get("sessionId") if records else None
        if isinstance(sid, str) and sid:
            meta[K_SESSION] = sid[:128]
        meta.update(extra)
        return meta

    def _apply(self, view: Repository, u: T.Unit) -> None:
        when = _when(u.records)
        if when is not None:        # (a unit without records keeps the time of the one before)
            view.commit_time = when
        if u.kind == "message":
            self._message(view, u)
        elif u.kind == "compact":
            self._compact(view, u)
        elif u.kind == "spawn":
            self._spawn(view, u)
        elif u.kind == "collapse":
            self._collapse(view, u)

    def _message(self, view: Repository, u: T.Unit) -> None:
        msg = u.message or {}
        extra: dict[str, str] = {}
        usage = None
        if msg.get("role") == "assistant":
            last = u.records[-1].message
            if isinstance(last.get("id"), str):
                extra[K_MESSAGE] = last["id"][:128]
            usage = _usage(last)
            if not msg.get("content"):
                return                  # nothing the model said (an empty streamed line)
        try:                            # (append checks the message; refused: nothing written)
            view.append(msg, meta=self._meta(u.records, **extra), usage=usage,
                        author="claude-code")
        except InputError as exc:
            self.repo.warn(f"{u.records[0].where()}: {msg.get('role')} message skipped: {exc}")
            return
        self.report.new += 1

    def _compact(self, view: Repository, u: T.Unit) -> None:
        boundary = u.records[0].data
        cm: dict = boundary["compactMetadata"] \
            if isinstance(boundary.get("compactMetadata"), dict) else {}
        trigger = str(cm.get("trigger", "?"))[:32]
        pre = cm.get("preTokens")
        how = f"{trigger}, {pre} tokens before" if isinstance(pre, int) else trigger
        text = (u.summary or "").strip() or "(empty compaction summary)"
        meta = self._meta(u.records, **{K_COMPACT: how})
        summary = {"role": "user", "content": text}
        if not view.entries_at(view.head_commit()):
            view.append(summary, meta=meta, author="claude-code")
        else:
            base = branch_state(view).base      # (your own commits under the import stay)
            start = len(view.entries_at(base)) if base is not None else 0
            try:
                view.compress(entries=f"{start}:", strategy="manual", summaries=[text],
                              allow_growth=True, message=f"claude-code compaction ({how})",
                              author="claude-code", meta=meta)
            except TraceError as exc:   # the summary is kept either way, as the next message
                self.repo.warn(f"{u.records[0].where()}: compaction recorded as a message, "
                               f"not a compress commit: {exc}")
                view.append(summary, meta=meta, author="claude-code")
        self.report.new += 1
        self.report.compactions += 1

    def _spawn(self, view: Repository, u: T.Unit) -> None:
        assert u.agent is not None
        view.spawn(u.agent, context="none", call=u.call, author="claude-code",
                   commit_message=f"spawn {u.agent} (Claude Code sub-agent, call {u.call})")
        self.report.new += 1
        self.report.agents.append(u.agent)
        self._sync_agent(view, u)

    def _sync_agent(self, view: Repository, u: T.Unit) -> None:
        """Import the sub-agent's records not yet in its namespace."""
        aid = next((a for a, n in self.names.items() if n == u.agent), None)
        if aid is None or aid in self.synced:
            return
        self.synced.add(aid)
        child = view.agent(u.agent or "")
        active, _ = T.chains(self.groups[aid])
        self.run(child, T.units(active), rewinds=False)

    def _collapse(self, view: Repository, u: T.Unit) -> None:
        assert u.agent is not None
        self._sync_agent(view, T.Unit("spawn", [], call=u.call, agent=u.agent))
        try:
            view.collapse(u.agent, strategy="final", call=u.call, author="claude-code",
                          commit_message=f"collapse {u.agent}: result of call {u.call}")
        except OperationError as exc:   # (e.g. collapsed already by an import into another
            self.repo.warn(f"{u.records[0].where()}: sub-agent {u.agent} not collapsed, its "
                           f"result kept as a tool result: {exc}")   # branch)
            r = u.records[0]
            blocks = [b for b in r.blocks() if isinstance(b, dict) and
                      b.get("tool_use_id") == u.call]
            self._message(view, T.Unit("message", [r], T._user_message(r, blocks)))
            return
        self.report.new += 1


def _when(records: list[T.Record]) -> tuple[int, int] | None:
    """The time of the unit's first record (its `timestamp`, ISO 8601) as a commit time in UTC,
    or None when it has none that parses."""
    from datetime import UTC, datetime
    ts = records[0].data.get("timestamp") if records else None
    if not isinstance(ts, str) or len(ts) > 64:
        return None
    try:
        dt = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    ms = int(dt.timestamp() * 1000)
    return (ms, 0) if 0 <= ms < 2 ** 53 else None


def _usage(message: dict) -> dict | None:
    """The API-reported usage of an assistant message, as `usage=` takes it."""
    raw = message.get("usage")
    if not isinstance(raw, dict):
        return None
    out: dict[str, Any] = {"provider": "anthropic"}
    for k in ("input_tokens", "output_tokens"):
        v = raw.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            out[k] = v
    if "input_tokens" not in out and "output_tokens" not in out:
        return None
    model = message.get("model")
    if isinstance(model, str) and 0 < len(model) <= 256:
        out["model"] = model
    return out
