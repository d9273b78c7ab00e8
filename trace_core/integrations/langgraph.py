"""LangGraph: `TraceSaver`, a checkpoint saver keeping each thread's checkpoints as Trace history.

    from langgraph.graph import StateGraph, MessagesState
    from trace_core import Repository
    from trace_core.integrations.langgraph import TraceSaver

    repo = Repository.discover()
    graph = builder.compile(checkpointer=TraceSaver(repo))
    graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "t1"}})
    # $ trace --agent langgraph/t1 log      one commit per checkpoint
    # $ trace --agent langgraph/t1 context  the thread's messages, stored once each

Each thread is the agent namespace `<namespace>/<thread>` (a subgraph's `checkpoint_ns` a
namespace below it); each checkpoint a commit whose parent is the commit of its parent checkpoint
and whose context is the `messages` channel, one blob per message (chat shape, plus a `langchain`
field with what restores the LangChain message exactly: lc_messages). A checkpoint whose parent
is not the tip of a branch (a replay or `update_state` from an older checkpoint: LangGraph's
time travel and fork) starts a new branch `fork-N`, and HEAD follows the newest checkpoint.
Everything else of a checkpoint (other channels, versions, metadata) is stored with the saver's
`serde` in blobs the commit's meta names; pending writes are commits of the ref
`refs/langgraph/writes`.
docs/FORMAT.md §6.4.5 specifies the bytes, docs/integrations.md the use.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from .. import chunked
from ..errors import (
    AgentNotFound,
    InputError,
    OperationError,
    RefConflict,
    RepositoryError,
)
from ..objects import Blob, Commit, Entry
from ..repository import Repository
from . import lc_messages
from .lc_messages import from_chat

__all__ = ["TraceSaver", "agent_name", "from_chat", "to_chat"]


def to_chat(message: Any) -> dict | None:
    """The blob message TraceSaver stores for `message`: `lc_messages.to_chat(message,
    exact=True)` (None when it is not a LangChain message that comes back equal)."""
    return lc_messages.to_chat(message, exact=True)

WRITES_REF = "refs/langgraph/writes"
HASHED = "lg."          # prefix of a namespace named by a hash (a thread id no agent name can be)
MAX_ATTEMPTS = 64
MEMO_SIZE = 20_000   # messages whose blob a saver remembers (by object, while unchanged)


def agent_name(key: str) -> str:
    """The agent name of a thread id or checkpoint_ns: the id itself when it is a valid agent
    name (docs/FORMAT.md §10) not starting with `lg.`, else `lg.` + 40 hex digits of its
    SHA-256 (so distinct ids never share a namespace)."""
    from ..errors import InvalidRefName
    from ..refs import check_agent_name
    try:
        if not key.startswith(HASHED):
            return check_agent_name(key)
    except InvalidRefName:
        pass
    return HASHED + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


# -- one namespace (thread, checkpoint_ns): what its refs reach, read once ---------------------
class _Space:
    """The checkpoints and pending writes of one namespace, from walking its refs; refreshed by
    walking only commits not seen yet (another process may have added some)."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.ino = _ino(repo)
        self.seen: set[bytes] = set()
        self.tips: dict[str, str] = {}                       # ref -> value at the last refresh
        self.cps: dict[str, tuple[bytes, dict, int]] = {}   # id -> (commit, meta, time)
        self.versions: dict[tuple[str, Any], tuple] = {}     # (channel, version) -> (ref, time)
        self.writes: dict[str, dict[tuple[str, int], tuple]] = {}  # id -> (task, idx) -> write

    def refresh(self) -> None:
        refs = {n: v for n, v in self.repo.refs.list("refs/") if not v.startswith("ref:")}
        if not all(self._forward(old, refs.get(n)) for n, old in self.tips.items()):
            self.__init__(self.repo)  # type: ignore[misc]   # deleted or pruned: start over
        self.tips = refs
        for raw in refs.values():
            new: list[Commit] = []
            stack = [bytes.fromhex(raw)]
            while stack:
                cid = stack.pop()
                if cid in self.seen:
                    continue
                self.seen.add(cid)
                c = self.repo.get_commit(cid)
                new.append(c)
                stack.extend(c.parents)
            for c in reversed(new):   # oldest first: a writes chain applies in order
                self._add(c)

    def _forward(self, old: str, new: str | None) -> bool:
        """Whether a ref that held `old` and holds `new` now only moved forward."""
        if new is None:
            return False
        cid, stop = bytes.fromhex(new), bytes.fromhex(old)
        while cid != stop:
            parents = self.repo.get_commit(cid).parents
            if not parents:
                return False
            cid = parents[0]
        return True

    def commits(self) -> builtins.list[Commit]:
        """Every commit the namespace's refs reach, parents before children."""
        out: list[Commit] = []
        done: set[bytes] = set()
        for raw in self.tips.values():
            stack = [(bytes.fromhex(raw), False)]
            while stack:
                cid, ready = stack.pop()
                if cid in done:
                    continue
                c = self.repo.get_commit(cid)
                if ready:
                    done.add(cid)
                    out.append(c)
                    continue
                stack.append((cid, True))
                stack.extend((p, False) for p in c.parents if p not in done)
        return out

    def _add(self, c: Commit) -> None:
        try:
            self._read(c)
        except (TypeError, ValueError, KeyError, AttributeError):
            raise RepositoryError(f"commit {c.hex}: its langgraph meta is malformed "
                                  "(docs/FORMAT.md §6.4.5)") from None

    def _read(self, c: Commit) -> None:
        meta = c.meta or {}
        cp = meta.get("langgraph")
        if isinstance(cp, dict) and isinstance(cp.get("checkpoint"), str):
            old = self.cps.get(cp["checkpoint"])
            if old is None or old[2] <= c.time_ms:
                self.cps[cp["checkpoint"]] = (c.id, cp, c.time_ms)
            for channel, version, ref in cp.get("channels", ()):
                key = (channel, version)
                if self.versions.get(key, (None, -1))[1] <= c.time_ms:   # the newest counts
                    self.versions[key] = (ref, c.time_ms)
        w = meta.get("langgraph-writes")
        if isinstance(w, dict) and isinstance(w.get("checkpoint"), str):
            self.add_writes(w)

    def add_writes(self, w: dict) -> None:
        got = self.writes.setdefault(w["checkpoint"], {})
        for idx, channel, ref in w.get("writes", ()):
            key = (w["task"], idx)
            if idx >= 0 and key in got:
                continue   # a task's regular writes are kept once; special ones are replaced
            got[key] = (w["task"], channel, ref, w.get("path", ""))


def _ino(repo: Repository) -> tuple | None:
    try:
        st = os.stat(repo.refs_root)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


class TraceSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpoint saver backed by a Trace repository (module docstring).

    `namespace` is the agent namespace the threads live under (`None`: directly under `repo`'s
    own namespace); `messages_key` the channel kept as the context. Safe across processes
    (every ref move is a compare-and-swap) and threads (one lock per saver)."""

    def __init__(self, repo: Repository, *, namespace: str | None = "langgraph",
                 messages_key: str = "messages", serde: SerializerProtocol | None = None) -> None:
        super().__init__(serde=serde)
        self.repo = repo
        self.namespace = namespace
        self.messages_key = messages_key
        self._root: Repository | None = None
        self._spaces: dict[tuple[str, str], _Space] = {}
        self._lock = threading.RLock()
        self._memo: OrderedDict[int, tuple] = OrderedDict()
        self._restored: OrderedDict[bytes, tuple] = OrderedDict()

    # -- namespaces -----------------------------------------------------------------------------
    def root(self, create: bool = False) -> Repository | None:
        """The namespace the threads live in (None when it does not exist and not `create`)."""
        if self.namespace is None:
            return self.repo
        if self._root is None or not self._root.agent_exists():
            try:
                self._root = self.repo.agent(self.namespace, create=create)
            except AgentNotFound:
                return None
        return self._root

    def thread_repo(self, thread_id: Any, checkpoint_ns: str = "",
                    create: bool = False) -> Repository | None:
        """The namespace of `thread_id` (and of a subgraph's `checkpoint_ns` below it), or
        None when it does not exist and not `create`."""
        root = self.root(create)
        if root is None:
            return None
        try:
            repo = root.agent(agent_name(str(thread_id)), create=create)
            if checkpoint_ns:
                repo = repo.agent(agent_name(checkpoint_ns), create=create)
        except AgentNotFound:
            return None
        return repo

    def _space(self, thread_id: Any, ns: str, create: bool = False) -> _Space | None:
        key = (str(thread_id), ns)
        space = self._spaces.get(key)
        if space is not None and space.ino != _ino(space.repo):
            space = None   # deleted (or pruned) since: read it again
        if space is None:
            repo = self.thread_repo(thread_id, ns, create)
            if repo is None:
                self._spaces.pop(key, None)
                return None
            space = self._spaces[key] = _Space(repo)
        space.refresh()
        return space

    # -- objects ----------------------------------------------------------------------------------
    def _chat_blob(self, message: Any) -> Blob | None:
        """The blob of a message (`to_chat`), remembered for the message object while it stays
        equal to what was converted (a graph's state hands the same objects to every put)."""
        hit = self._memo.get(id(message))
        if hit is not None and hit[0] is message and hit[1] == message:
            self._memo.move_to_end(id(message))
            return hit[2]
        chat = to_chat(message)
        blob = Blob(chat) if chat is not None else None
        if blob is not None:
            self._memo[id(message)] = (message, message.model_copy(deep=True), blob)
            if len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return blob

    def _payload(self, value: Any, objects: list) -> bytes:
        kind, data = self.serde.dumps_typed(value)
        blob = Blob({"data": bytes(data), "serde": kind})
        objects.append(blob)
        return blob.id

    def _load(self, ref: Any) -> Any:
        msg = self.repo.get_blob(ref).message if isinstance(ref, bytes) else {}
        if not (isinstance(msg.get("serde"), str) and isinstance(msg.get("data"), bytes)):
            raise RepositoryError(f"{ref.hex() if isinstance(ref, bytes) else repr(ref)[:40]}: "
                                  "not a serde blob (docs/FORMAT.md §6.4.5)")
        return self.serde.loads_typed((msg["serde"], msg["data"]))

    def _value(self, ref: Any) -> Any:
        if isinstance(ref, dict):   # the channel is a context: the messages of that snapshot
            snap = self.repo.get_snapshot(ref["context"])
            return [self._message(e.blob) for e in chunked.iter_entries(snap, self.repo.get_node)]
        return self._load(ref)

    def _message(self, oid: bytes) -> Any:
        """A fresh copy of the message blob `oid` restores (restored once per saver), which
        `_chat_blob` then knows."""
        if oid not in self._restored:
            blob = self.repo.get_blob(oid)
            self._restored[oid] = (blob, from_chat(blob.message))
            if len(self._restored) > MEMO_SIZE:
                self._restored.popitem(last=False)
        blob, original = self._restored[oid]
        message = original.model_copy()
        self._memo[id(message)] = (message, original, blob)
        if len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)
        return message

    # -- reading -----------------------------------------------------------------------------
    def _tuple(self, space: _Space, thread_id: Any, ns: str, cp_id: str) -> CheckpointTuple:
        _cid, meta, _t = space.cps[cp_id]
        checkpoint = self._load(meta["state"])
        values = {}
        for k, ver in checkpoint["channel_versions"].items():
            ref = space.versions.get((k, ver), (None, 0))[0]
            if ref is not None:
                values[k] = self._value(ref)
        checkpoint["channel_values"] = values
        writes = space.writes.get(cp_id, {})
        pending = [(task, channel, self._load(ref)) for (task, _i), (_t2, channel, ref, _p)
                   in sorted(writes.items(), key=lambda kv: writes_sort_key(kv[1][3], *kv[0]))]
        parent = meta.get("parent")
        cfg = {"thread_id": thread_id, "checkpoint_ns": ns}
        return CheckpointTuple(
            config={"configurable": {**cfg, "checkpoint_id": cp_id}},
            checkpoint=checkpoint, metadata=self._load(meta["metadata"]),
            parent_config={"configurable": {**cfg, "checkpoint_id": parent}} if parent else None,
            pending_writes=pending)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        thread_id, ns = conf["thread_id"], conf.get("checkpoint_ns", "")
        with self._lock:
            space = self._space(thread_id, ns)
            if space is None or not space.cps:
                return None
            cp_id = get_checkpoint_id(config) or max(space.cps)
            if cp_id not in space.cps:
                return None
            return self._tuple(space, thread_id, ns, cp_id)

    def list(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
             before: RunnableConfig | None = None,
             limit: int | None = None) -> Iterator[CheckpointTuple]:
        with self._lock:
            out = self._list(config, filter, before, limit)
        yield from out

    def _list(self, config: RunnableConfig | None, filter: dict[str, Any] | None,
              before: RunnableConfig | None, limit: int | None) -> builtins.list[CheckpointTuple]:
        conf = config["configurable"] if config else {}
        want_id = get_checkpoint_id(config) if config else None
        before_id = get_checkpoint_id(before) if before else None
        out: builtins.list[CheckpointTuple] = []
        for thread_id, ns, space in self._spaces_of(conf):
            for cp_id in sorted(space.cps, reverse=True):
                if (want_id and cp_id != want_id) or (before_id and cp_id >= before_id):
                    continue
                if filter:
                    md = self._load(space.cps[cp_id][1]["metadata"])
                    if not all(md.get(k) == v for k, v in filter.items()):
                        continue
                if limit is not None and len(out) >= limit:
                    return out
                out.append(self._tuple(space, thread_id, ns, cp_id))
        return out

    def _spaces_of(self, conf: dict) -> Iterator[tuple[Any, str, _Space]]:
        """(thread id, checkpoint_ns, space) of the namespaces a list config names."""
        if "thread_id" in conf:
            threads = [conf["thread_id"]]
        else:
            root = self.root()
            threads = [] if root is None else [t for t in (self._thread_of(root, n) for n in
                                                            root.agents() if n[0] != ".") if t]
        for thread_id in threads:
            nss = [conf["checkpoint_ns"]] if conf.get("checkpoint_ns") is not None \
                else self._namespaces(thread_id)
            for ns in nss:
                space = self._space(thread_id, ns)
                if space is not None:
                    yield thread_id, ns, space

    def _thread_of(self, root: Repository, name: str) -> str | None:
        """The thread id of namespace `name` (the id in its commits' meta)."""
        repo = root.agent(name)
        for sub in [repo, *(repo.agent(n) for n in repo.agents() if n[0] != ".")]:
            for _ref, raw in sub.refs.list("refs/heads/"):
                if not raw.startswith("ref:"):
                    meta = (sub.get_commit(bytes.fromhex(raw)).meta or {}).get("langgraph", {})
                    if isinstance(meta.get("thread"), str):
                        return meta["thread"]
        return None

    def _namespaces(self, thread_id: Any) -> builtins.list[str]:
        repo = self.thread_repo(thread_id)
        if repo is None:
            return []
        out = [""]
        for n in repo.agents():
            if n[0] == ".":
                continue
            for _ref, raw in repo.agent(n).refs.list("refs/heads/"):
                if not raw.startswith("ref:"):
                    meta = (repo.get_commit(bytes.fromhex(raw)).meta or {}).get("langgraph", {})
                    if isinstance(meta.get("ns"), str):
                        out.append(meta["ns"])
                        break
        return out

    # -- writing ----------------------------------------------------------------------------------
    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        conf = config["configurable"]
        thread_id, ns = conf["thread_id"], conf.get("checkpoint_ns", "")
        parent_id = conf.get("checkpoint_id")
        with self._lock:
            space = self._space(thread_id, ns, create=True)
            assert space is not None
            self._put(space, str(thread_id), ns, parent_id, checkpoint,
                      get_checkpoint_metadata(config, metadata), new_versions)
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                                 "checkpoint_id": checkpoint["id"]}}

    def _put(self, space: _Space, thread: str, ns: str, parent_id: str | None,
             checkpoint: Checkpoint, metadata: Any, new_versions: ChannelVersions) -> Commit:
        repo = space.repo
        state: dict = dict(checkpoint)
        values = state.pop("channel_values")
        objects: builtins.list = []
        channels: builtins.list = []
        context: builtins.list[Blob] | None = None
        for k, ver in new_versions.items():
            ref: Any = None
            if k in values:
                msgs = values[k] if k == self.messages_key else None
                blobs = [self._chat_blob(m) for m in msgs] if isinstance(msgs, list) else None
                if blobs is not None and all(b is not None for b in blobs):
                    context = [b for b in blobs if b is not None]
                    ref = "context"
                else:
                    ref = self._payload(values[k], objects)
            channels.append([k, ver, ref])
        parent = space.cps.get(parent_id) if parent_id else None
        parent_cid = parent[0] if parent else None
        unchanged = None
        if context is None:   # unchanged messages: the context of the version it holds
            old = space.versions.get((self.messages_key, checkpoint["channel_versions"].get(
                self.messages_key)), (None, 0))[0]
            if isinstance(old, dict):
                unchanged = old["context"]
                if parent_cid is None or unchanged != repo.get_commit(parent_cid).snapshot:
                    snap = repo.get_snapshot(unchanged)
                    context = [repo.get_blob(e.blob)
                               for e in chunked.iter_entries(snap, repo.get_node)]
        if context is None and unchanged is not None and parent_cid is not None:
            change = self._same_context(repo, parent_cid)   # (every invoke's input checkpoint)
        else:
            change = self._change(repo, parent_cid, context or [])
        channels = [[k, v, {"context": change.snapshot.id} if r == "context" else r]
                    for k, v, r in channels]
        meta = {"version": 1, "thread": thread, "ns": ns, "checkpoint": checkpoint["id"],
                "state": self._payload(state, objects),
                "metadata": self._payload(metadata, objects), "channels": channels}
        if parent_id:
            meta["parent"] = parent_id
        change.objects.extend(objects)
        change.meta = {"langgraph": meta}
        md = metadata if isinstance(metadata, dict) else {}
        change.message = (f"{md.get('source', 'checkpoint')} step {md.get('step', '?')}: "
                          f"{change.message}")[:200]
        from ..plumbing.commit import write_change
        commit = write_change(repo, change, [parent_cid] if parent_cid else [])
        self._advance(repo, parent_cid, commit)
        space.seen.add(commit.id)
        space._add(commit)
        return commit

    @staticmethod
    def _same_context(repo: Repository, parent: bytes) -> Any:
        """The change of a checkpoint whose messages are its parent's: nothing read or built."""
        from ..plumbing.commit import Change
        pc = repo.get_commit(parent)
        return Change(repo.get_snapshot(pc.snapshot), [], "checkpoint", message="no new message",
                      total_tokens=pc.total_tokens)

    def _change(self, repo: Repository, parent: bytes | None, context: builtins.list[Blob]) -> Any:
        from ..messages import preview
        from ..plumbing.commit import Change, count_entries, snapshot_of_commit, total_after
        before = snapshot_of_commit(repo, parent)
        old = chunked.entries(before, repo.get_node)
        new = [Entry(b.id, 0) for b in context]
        nodes: builtins.list = []
        if len(new) > len(old) and [e.blob for e in new[:len(old)]] == [e.blob for e in old]:
            snap = chunked.append(before, new[len(old):], repo.get_node, nodes.append)
            added = context[len(old):]
            op, targets = "append", list(range(len(old), len(new)))
        else:
            snap = chunked.build(new, nodes.append)
            known = {e.blob for e in old}
            added = [b for b in context if b.id not in known]
            op, targets = "checkpoint", []
        tokens = sum(repo.blob_tokens(b.id, b) for b in added)
        text = (f"{added[-1].message.get('role')}: {preview(added[-1].message)}" if added
                else "no new message" if op == "append" or snap.id == before.id
                else f"context of {len(new)} messages")
        if op == "append":
            text = f"+{len(added)} ({text})" if len(added) > 1 else text
        return Change(snap, [*added, *nodes], op,
                      blobs=[b.id for b in added] if op == "append" else [],
                      targets=targets, message=text, tokens=tokens,
                      total_tokens=total_after(repo, repo.get_commit(parent) if parent else None,
                                               before, tokens, snap.count)
                      if op == "append" else count_entries(repo, new))

    def _advance(self, repo: Repository, parent: bytes | None, commit: Commit) -> None:
        """Move the branch whose tip is `parent` to `commit`; a new branch (`main` in an empty
        namespace, else `fork-N`) when no branch ends there. HEAD follows."""
        from ..plumbing.refs import create_ref, set_ref, set_symbolic_ref
        msg = f"langgraph: {commit.summary}"[:200]
        for _ in range(MAX_ATTEMPTS):
            heads = dict(repo.refs.list("refs/heads/"))
            at = sorted(n for n, v in heads.items() if parent and v == parent.hex())
            head = repo.head_branch()
            branch = head if head in at else (at[0] if at else None)
            try:
                if branch is not None:
                    set_ref(repo, branch, parent.hex() if parent else None, commit.hex, msg)
                else:
                    branch = "refs/heads/main" if not heads else self._fork_name(heads)
                    create_ref(repo, branch, commit.hex, msg)
            except RefConflict:
                continue
            if repo.refs.read("HEAD") != f"ref:{branch}":
                set_symbolic_ref(repo, "HEAD", branch, message=f"langgraph: on {branch[11:]}")
            return
        raise OperationError("the thread's branches kept moving under us; gave up after "
                             f"{MAX_ATTEMPTS} attempts")

    @staticmethod
    def _fork_name(heads: dict) -> str:
        n = 1 + max((int(h[16:]) for h in heads if h.startswith("refs/heads/fork-")
                     and h[16:].isdigit()), default=0)
        return f"refs/heads/fork-{n}"

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                   task_id: str, task_path: str = "") -> None:
        conf = config["configurable"]
        thread_id, ns, cp_id = conf["thread_id"], conf.get("checkpoint_ns", ""), \
            conf["checkpoint_id"]
        with self._lock:
            space = self._space(thread_id, ns, create=True)
            assert space is not None
            got = space.writes.get(cp_id, {})
            objects: builtins.list = []
            records = []
            for idx, (channel, value) in enumerate(writes):
                i = WRITES_IDX_MAP.get(channel, idx)
                if i >= 0 and (task_id, i) in got:
                    continue
                records.append([i, channel, self._payload(value, objects)])
            if not records:
                return
            w = {"version": 1, "checkpoint": cp_id, "task": task_id, "path": task_path,
                 "writes": records}
            names = ", ".join(sorted({str(r[1]) for r in records}))[:80]
            commit = self._chain(space.repo, WRITES_REF, {"langgraph-writes": w}, objects,
                                 f"writes of task {task_id[:12]} at {cp_id}: {names}")
            space.seen.add(commit.id)
            space.add_writes(w)

    def _chain(self, repo: Repository, ref: str, meta: dict, objects: builtins.list,
               message: str) -> Commit:
        """A commit carrying `meta` on top of `ref`, which moves to it (compare-and-swap)."""
        from ..plumbing.commit import Change, write_change
        from ..plumbing.refs import set_ref
        for _ in range(MAX_ATTEMPTS):
            old = repo.refs.read(ref)
            change = Change(chunked.EMPTY, list(objects), "langgraph-writes", message=message,
                            meta=meta)
            commit = write_change(repo, change, [bytes.fromhex(old)] if old else [])
            try:
                set_ref(repo, ref, old, commit.hex, message=message[:200])
            except RefConflict:
                continue
            return commit
        raise OperationError(f"{ref} kept moving under us; gave up after {MAX_ATTEMPTS} attempts")

    def delete_thread(self, thread_id: str) -> None:
        from ..retention import remove_namespace
        with self._lock:
            for key in [k for k in self._spaces if k[0] == str(thread_id)]:
                del self._spaces[key]
            repo = self.thread_repo(thread_id)
            if repo is not None and repo.agent_name is not None:
                remove_namespace(repo.trace_dir, repo.refs_root)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and pending write of a thread (all its namespaces) to a new
        thread: the same branches, contexts and blobs (nothing is stored twice), commits made
        again with the new thread id. OperationError when the target thread exists."""
        from ..plumbing.commit import Change, write_change
        from ..plumbing.refs import create_ref, set_symbolic_ref
        with self._lock:
            if self.thread_repo(target_thread_id) is not None:
                raise OperationError(f"thread {target_thread_id!r} exists already: delete it "
                                     "first")
            for ns in self._namespaces(source_thread_id):
                space = self._space(source_thread_id, ns)
                dst = self.thread_repo(target_thread_id, ns, create=True)
                if space is None or dst is None:
                    continue
                made: dict[bytes, str] = {}
                for c in space.commits():
                    meta = dict(c.meta or {})
                    if "langgraph" in meta:
                        meta["langgraph"] = {**meta["langgraph"], "thread": str(target_thread_id)}
                    change = Change(self.repo.get_snapshot(c.snapshot), [], c.op, blobs=c.blobs,
                                    targets=c.targets, message=c.message, tokens=c.tokens,
                                    total_tokens=c.total_tokens, meta=meta)
                    made[c.id] = write_change(dst, change, [bytes.fromhex(made[p])
                                                             for p in c.parents], c.author).hex
                for name, raw in space.tips.items():
                    create_ref(dst, name, made[bytes.fromhex(raw)],
                               f"langgraph: copied from thread {source_thread_id}"[:200])
                head = space.repo.head_branch()
                if head is not None and head in space.tips:
                    set_symbolic_ref(dst, "HEAD", head, message="langgraph: copied")
                self._spaces.pop((str(target_thread_id), ns), None)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """`delete`: delete the threads. `keep_latest`: keep only the newest checkpoint of each
        namespace (and its pending writes), as the root commit of `main`; the other branches
        are deleted and the older commits go at the next `trace gc` after the grace period."""
        if strategy not in ("keep_latest", "delete"):
            raise InputError(f"unknown prune strategy {strategy!r} (keep_latest, delete)")
        with self._lock:
            for thread_id in thread_ids:
                if strategy == "delete":
                    self.delete_thread(thread_id)
                    continue
                for ns in self._namespaces(thread_id):
                    space = self._space(thread_id, ns)
                    if space is not None and space.cps:
                        self._keep_latest(space)

    def _keep_latest(self, space: _Space) -> None:
        from ..plumbing.commit import Change, write_change
        from ..plumbing.refs import delete_ref, set_ref, set_symbolic_ref
        repo = space.repo
        cp_id = max(space.cps)
        cid, meta, _t = space.cps[cp_id]
        c = repo.get_commit(cid)
        state = self._load(meta["state"])
        channels = [[k, v, space.versions.get((k, v), (None, 0))[0]]
                    for k, v in state["channel_versions"].items()]
        kept = {k: v for k, v in meta.items() if k != "parent"} | {"channels": channels}
        root = write_change(repo, Change(repo.get_snapshot(c.snapshot), [], "checkpoint",
                                         message=f"{c.message} (pruned: its history dropped)"[:200],
                                         total_tokens=c.total_tokens, meta={"langgraph": kept}),
                            [], c.author)
        tip: Commit | None = None
        for (task, idx), (_t2, channel, ref, path) in space.writes.get(cp_id, {}).items():
            w = {"version": 1, "checkpoint": cp_id, "task": task, "path": path,
                 "writes": [[idx, channel, ref]]}
            tip = write_change(repo, Change(chunked.EMPTY, [], "langgraph-writes",
                                            message=f"writes of task {task[:12]} at {cp_id}",
                                            meta={"langgraph-writes": w}),
                               [tip.id] if tip else [])
        msg = "langgraph: prune keep_latest"
        set_ref(repo, "refs/heads/main", space.tips.get("refs/heads/main"), root.hex, msg)
        set_symbolic_ref(repo, "HEAD", "refs/heads/main", message=msg)
        if tip is not None:
            set_ref(repo, WRITES_REF, space.tips.get(WRITES_REF), tip.hex, msg)
        for name, raw in space.tips.items():
            if name != "refs/heads/main" and (name != WRITES_REF or tip is None):
                delete_ref(repo, name, raw, msg)
        space.__init__(repo)  # type: ignore[misc]

    # -- async twins (the same local-disk work, run inline) ----------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None,
                    limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint,
                   metadata: CheckpointMetadata, new_versions: ChannelVersions) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                          task_id: str, task_path: str = "") -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.copy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.prune(thread_ids, strategy=strategy)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """InMemorySaver's: `<32-digit counter>.<random>` (sortable as strings)."""
        from langgraph.checkpoint.memory import InMemorySaver
        return InMemorySaver.get_next_version(self, current, channel)  # type: ignore[arg-type]
