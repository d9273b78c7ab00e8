"""Repository state: an opened `.trace` directory with its format version, config, object store,
refs, index, token counter and agent namespace. It holds state and has no operations: those are
functions in the plumbing and porcelain modules, and `trace_core.repository.Repository` is the
facade that puts them together (docs/architecture.md)."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import AgentNotFound, ConfigError, RepositoryError, UnsupportedFormat
from .hooks import Callback, Hooks
from .ids import RawId, from_hex, to_hex
from .objects import Blob, Commit, Node, Snapshot, TraceObject
from .storage import safefs
from .storage.lockfile import fsync_dir, write_file_atomic
from .storage.objectstore import DiskObjectStore, StoreOptions

if TYPE_CHECKING:
    from .config import Config
    from .index import CommitIndex
    from .settings import ConfigView
    from .tokens import TokenCounter

TRACE_DIR = ".trace"
FORMAT_FILE = "format"
FORMAT_VERSION = 1
FORMAT_LINE = f"trace-repository-format {FORMAT_VERSION}\n"
DEFAULT_BRANCH = "main"

#: token counts kept in memory before they are written to the index (on a background thread)
TOKEN_FLUSH_ROWS = 512

#: the token writers running: a fork waits for them, since a child would inherit the index's
#: lock (and SQLite's state) held by a thread that does not exist in it
_TOKEN_WRITERS: weakref.WeakSet = weakref.WeakSet()


def _join_token_writers() -> None:
    for t in list(_TOKEN_WRITERS):
        t.join()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_join_token_writers)

S = TypeVar("S", bound="RepoState")


class OpenTransaction(Protocol):
    """What the commit primitive needs of an open transaction (plumbing.commit.Transaction)."""

    commits: list[Commit]

    def apply(self, build: Callable[[Any, Any], Any], author: str | None) -> Commit: ...


def _read_format(trace_dir: str) -> int:
    path = os.path.join(trace_dir, FORMAT_FILE)
    try:
        raw = safefs.read_bytes(path, 256)
    except FileNotFoundError:
        raise RepositoryError(
            f"{trace_dir} is not a trace repository (no {FORMAT_FILE} file)") from None
    except OSError as exc:
        raise RepositoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if raw == FORMAT_LINE.encode():
        return FORMAT_VERSION
    m = re.fullmatch(rb"trace-repository-format ([1-9][0-9]{0,8})\n", raw)
    if m is None or int(m.group(1)) == FORMAT_VERSION:
        raise RepositoryError(f"{path} is malformed (it must hold exactly "
                              f"{FORMAT_LINE.strip()!r} and a newline)")
    version = int(m.group(1))
    raise UnsupportedFormat(f"repository format version {version} is not supported by this "
                            f"trace (it knows version {FORMAT_VERSION}); upgrade trace")


def find_trace_dir(path: str) -> str:
    """`path` itself if it is a .trace directory, else `path/.trace`."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, FORMAT_FILE)) and \
            os.path.isdir(os.path.join(path, "objects")):
        return path
    return os.path.join(path, TRACE_DIR)


class RepoState:
    """One agent's view of a `.trace` repository (the default agent unless `agent` is given):
    the store, refs, index, config and token counter it reads and writes through.

    Settings (docs/security.md): `user_config` is the user's own configuration (the CLI loads
    the global config file; trace_core never reads the home directory or the environment),
    `overrides` settings for this use only (the CLI's `-c key=value`), both Configs or None.
    `config` is the effective view of user config < `.trace/config` < overrides, in which the
    repository's file sets trusted-only keys (llm.provider, llm.base-url) only when `trusted`
    (default: whether a safe.directory of user_config or overrides names this repository), and
    never sets user-only keys (llm.api-key-env, safe.directory). `repo_config` is the file
    itself."""

    def __init__(self, trace_dir: str, agent: str | None = None, *,
                 user_config: Config | None = None, overrides: Config | None = None,
                 trusted: bool | None = None, create: bool = False,
                 _parent: RepoState | None = None, _head_ref: str = "HEAD") -> None:
        from .refs import RefStore, check_agent_path

        self.trace_dir = os.path.abspath(trace_dir)
        self._parent = _parent
        self._root: RepoState = _parent._root if _parent is not None else self  # owns shared state
        #: where `warn` sends a warning: the parent view's callback, else appended to `warnings`
        #: (the CLI sets a callback that prints `warning: ...` on stderr)
        self.on_warning: Callable[[str], None] | None = (
            _parent.on_warning if _parent is not None else None)
        self.warnings: list[str] = []
        #: the event callbacks (trace_core.hooks), one registry for every view of the repository
        self.hooks: Hooks = _parent.hooks if _parent is not None else Hooks()
        if _parent is None:
            from .config import Config
            from .settings import is_trusted
            _read_format(self.trace_dir)
            self.user_config = user_config
            self.overrides = overrides
            self.trusted: bool = (
                any(is_trusted(c, self.trace_dir) for c in (user_config, overrides))
                if trusted is None else bool(trusted))
            self.repo_config: Config = Config.load(os.path.join(self.trace_dir, "config"),
                                                   top=self.trace_dir)
            self.config: ConfigView = self._view(self.repo_config)
            self.store = DiskObjectStore(os.path.join(self.trace_dir, "objects"),
                                         self._store_options())
            self._index: CommitIndex | None = None
        else:
            self.user_config, self.overrides = _parent.user_config, _parent.overrides
            self.trusted = _parent.trusted
            self.repo_config = _parent.repo_config
            self.config = _parent.config
            self.store = _parent.store
            self._index = _parent._index
        #: the agent's path from the root namespace (`a/b`: sub-agent b of a), None for the root
        self.agent_name = agent
        if agent is None:
            self.refs_root = self.trace_dir
        else:
            parts = check_agent_path(agent)
            parent_path = _parent.agent_name if _parent is not None else None
            if parent_path and _head_ref == "HEAD":
                self.agent_name = f"{parent_path}/{agent}"
            base = _parent.refs_root if _parent is not None and _head_ref == "HEAD" \
                else self.trace_dir
            self.refs_root = os.path.join(base, *(x for p in parts for x in ("agents", p)))
        self.refs = RefStore(self.refs_root, durability=self.durability, who=self.who,
                             top=self.trace_dir, head_required=agent is None)
        self.refs.before_write = self.store.publish_batch
        if _parent is not None:   # one bound on kept ref files per repository (root.close)
            self.refs.share_kept_files(self._root.refs)
        if agent is not None and not create and _head_ref == "HEAD" and not self.agent_exists():
            # (with `create`, the namespace is made by its first commit: plumbing.commit.tip)
            raise AgentNotFound(f"no agent {self.agent_name!r} in this repository: spawn it "
                                "('trace spawn') or create it ('--create')")
        #: the ref commits move: HEAD, or a branch for a worktree view (see `worktree`)
        self.head_ref = _head_ref
        #: the transaction commits of this view go to (plumbing.commit.Transaction), or None
        self.open_transaction: OpenTransaction | None = None
        #: when set, a commit that would cross a budget threshold is refused (strict_budget)
        self.budget_strict = False
        #: when set, a change that breaks tool-call pairing is refused (strict_tools)
        self.tools_strict = False
        #: (ms since the epoch, UTC offset in minutes) new commits of this view are stamped
        #: with instead of now, as git's GIT_COMMITTER_DATE (an importer replaying a transcript)
        self.commit_time: tuple[int, int] | None = None
        self._token_counter: TokenCounter | None = None
        self._token_cache: dict = {}
        self._token_pending: list = []
        self._token_writer: threading.Thread | None = None  # see _flush_tokens_behind
        self._index_lock = threading.Lock()
        self._persist_tokens = True
        #: (pid, open fd) of each namespace's commit.lock, by namespace root (plumbing.commit)
        self._turn_fds: dict[str, tuple[int, int]] = {}

    def warn(self, text: str) -> None:
        """Report something the user should see but that does not stop the operation (one
        line): to `on_warning` when set, else kept in `warnings` for the caller to read."""
        if self.on_warning is not None:
            self.on_warning(text)
        else:
            self.warnings.append(text)

    def on(self, event: str, callback: Callback) -> Callback:
        """Call `callback(event)` (a trace_core.hooks.HookEvent) after every `event`: commit, ref,
        merge, compress, spawn, collapse, reset, rebase, cherry-pick, revert, reorder, or "*".
        Shared by every view of this repository (agents, worktrees); docs/inspect.md "Hooks"."""
        return self.hooks.on(event, callback)

    def off(self, event: str | None = None, callback: Callback | None = None) -> int:
        """Remove callbacks registered with `on` (None: any event / any callback); how many."""
        return self.hooks.off(event, callback)

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def init(cls: type[S], path: str = ".", *, encoding: str | None = None,
             durability: str = "normal", branch: str = DEFAULT_BRANCH,
             author: str | None = None, user_config: Config | None = None,
             overrides: Config | None = None, trusted: bool | None = None) -> S:
        """Create `path/.trace` (or `path` itself if it ends in .trace) and open it (settings
        as for `open`)."""
        from .config import Config, validate_value
        from .refs import RefStore, check_ref_format
        from .tokens import DEFAULT_ENCODING, CharCounter, TiktokenCounter

        path = os.path.abspath(path)
        trace_dir = path if os.path.basename(path) == TRACE_DIR else os.path.join(path, TRACE_DIR)
        if os.path.exists(os.path.join(trace_dir, FORMAT_FILE)):
            raise RepositoryError(f"{trace_dir} already holds a trace repository")
        check_ref_format(f"refs/heads/{branch}")
        durability = validate_value("core.durability", durability)
        if encoding and encoding != CharCounter.name:
            TiktokenCounter(encoding).load()   # refuse an unknown encoding before creating anything
        encoding = encoding or DEFAULT_ENCODING
        for d in ("objects/journal", "objects/pack", "refs/heads", "refs/tags", "agents"):
            os.makedirs(os.path.join(trace_dir, d), exist_ok=True)
        cfg = Config.parse("", origin="config")
        cfg = cfg.set("core.format", str(FORMAT_VERSION))
        cfg = cfg.set("core.encoding", encoding)
        cfg = cfg.set("core.durability", durability)
        if author:
            cfg = cfg.set("user.name", author)
        cfg.save(os.path.join(trace_dir, "config"), fsync=durability == "full")
        head = os.path.join(trace_dir, "HEAD")
        if not os.path.exists(head):
            RefStore(trace_dir, durability).set_symbolic("HEAD", f"refs/heads/{branch}",
                                                         message="init")
        # the format file is written last: its presence marks a complete repository
        write_file_atomic(os.path.join(trace_dir, FORMAT_FILE), FORMAT_LINE.encode(),
                          fsync=durability == "full")
        if durability == "full":
            fsync_dir(trace_dir)
        return cls(trace_dir, user_config=user_config, overrides=overrides, trusted=trusted)

    @classmethod
    def open(cls: type[S], path: str = ".", agent: str | None = None, *,
             user_config: Config | None = None, overrides: Config | None = None,
             trusted: bool | None = None, create: bool = False) -> S:
        """Open the repository at `path` (its .trace directory or the directory holding it).

        `user_config`: your own settings (a Config, e.g. `Config.load(path)` of your global
        config file); `overrides`: settings for this use only (`Config.from_items([...])`);
        `trusted`: whether this repository's config may set trusted-only keys such as
        llm.provider (default: whether a safe.directory value of user_config or overrides names
        it). See docs/security.md. `agent`: open that agent's namespace (`a/b`: sub-agent b of
        a); AgentNotFound if it does not exist, unless `create`."""
        trace_dir = find_trace_dir(path)
        if not os.path.isdir(trace_dir):
            raise RepositoryError(f"no trace repository at {os.path.abspath(path)}")
        return cls(trace_dir, agent=agent, user_config=user_config, overrides=overrides,
                   trusted=trusted, create=create)

    @classmethod
    def discover(cls: type[S], start: str = ".", agent: str | None = None, *,
                 user_config: Config | None = None, overrides: Config | None = None,
                 trusted: bool | None = None, create: bool = False) -> S:
        """Walk up from `start` to the first directory holding a `.trace` repository (settings
        as for `open`)."""
        cur = os.path.abspath(start)
        while True:
            cand = find_trace_dir(cur)
            if os.path.isfile(os.path.join(cand, FORMAT_FILE)):
                return cls(cand, agent=agent, user_config=user_config, overrides=overrides,
                           trusted=trusted, create=create)
            parent = os.path.dirname(cur)
            if parent == cur:
                raise RepositoryError(f"not in a trace repository (or any parent of "
                                      f"{os.path.abspath(start)}); run 'trace init'")
            cur = parent

    def agent(self: S, name: str, create: bool = False) -> S:
        """The repository of sub-agent `name` of this one (`a/b`: b of a): own HEAD, branches,
        reflog; shared objects. AgentNotFound if it does not exist, unless `create` (then an
        empty namespace is made; `spawn` makes one that starts from this agent's context)."""
        if not isinstance(name, str) or not name:
            from .errors import InputError
            raise InputError(f"an agent name must be a non-empty string, not {name!r:.40}")
        return type(self)(self.trace_dir, agent=name, create=create, _parent=self)

    def agent_exists(self) -> bool:
        """Whether this view's agent namespace exists (the root namespace always does)."""
        if self.agent_name is None:
            return True
        try:
            safefs.check_dirs(self.trace_dir, self.refs_root)
        except NotADirectoryError:
            raise RepositoryError(f"agent namespace {self.refs_root}: not a directory") from None
        return os.path.isdir(self.refs_root)

    def worktree(self: S, branch: str, must_exist: bool = True) -> S:
        """A view whose HEAD is fixed to `branch`: its commits, resets and reads use that branch
        and never move the shared HEAD, so several processes can work on different branches of
        one namespace at once. The branch must exist (create it with `refs.add_if_new`) unless
        `must_exist` is false: then the view's first commit creates it (a root commit)."""
        from .errors import RefNotFound
        from .refs import check_writable
        full = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        check_writable(full)
        if must_exist and self.refs.read(full) is None:
            raise RefNotFound(f"branch {full} does not exist")
        return type(self)(self.trace_dir, agent=self.agent_name, _parent=self._root,
                          _head_ref=full)

    def agents(self) -> list[str]:
        d = os.path.join(self.refs_root, "agents")
        try:
            return sorted(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))
        except FileNotFoundError:
            return []

    def close(self) -> None:
        if self._parent is None:
            for pid, fd in self._turn_fds.values():
                if pid == os.getpid():
                    os.close(fd)
            self._turn_fds.clear()
            self.refs.close()
            self.flush_token_cache()
            self.store.close()
            if self._index is not None:
                self._index.close()
                self._index = None

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- settings -----------------------------------------------------------------------------
    def _store_options(self) -> StoreOptions:
        c = self.config
        return StoreOptions(
            durability=c.get_typed("core.durability"),
            level=c.get_typed("core.compression-level"),
            journal_max_records=c.get_typed("pack.journal-max-records"),
            journal_max_bytes=c.get_typed("pack.journal-max-bytes"),
            auto_pack_limit=c.get_typed("pack.auto-pack-limit"),
        )

    @property
    def durability(self) -> str:
        return self.config.get_typed("core.durability")

    @property
    def encoding(self) -> str:
        return self.config.get_typed("core.encoding")

    @property
    def who(self) -> str:
        """The author recorded in commits and reflogs: the agent's name, user.name or "trace"
        (worked out once per config: every commit asks)."""
        cfg = self.config
        cached = self.__dict__.get("_who")
        if cached is None or cached[0] is not cfg:
            # the raw value: an empty or odd user.name must never stop a repository from opening
            cached = self._who = (cfg, self.agent_name or cfg.get("user.name", "") or "trace")
        return cached[1]

    def set_config(self, key: str, value: str) -> None:
        """Validate and store a value in the repository's `.trace/config` (read-modify-write
        under the config's lock file). A user-only key (llm.api-key-env, safe.directory) is
        refused: the repository's file can never set it. A trusted-only key (llm.provider,
        llm.base-url) is stored, with a warning when this repository is not trusted, since it
        then takes no effect (docs/security.md)."""
        from .config import (
            READ_ONLY_KEYS,
            TRUSTED,
            USER_ONLY,
            key_source,
            update_file,
            validate_value,
        )
        if key.lower() in READ_ONLY_KEYS:
            raise ConfigError(f"{key} is set by 'trace init' and cannot be changed")
        value = validate_value(key, value)
        source = key_source(key)
        if source == USER_ONLY:
            raise ConfigError(f"{key} cannot be set in a repository's config (a repository "
                              f"never chooses it): set it in your own config with "
                              f"'trace config --global {key} VALUE'")
        self._set_config(update_file(self._config_path(), lambda c: c.set(key, value),
                                     fsync=self.durability == "full", top=self.trace_dir))
        if source == TRUSTED and not self.trusted:
            self.warn(f"{key} is stored in {self._config_path()} but takes effect only once "
                      f"you trust this repository ('trace trust {self.trace_dir}'); or set it "
                      f"in your own config with 'trace config --global'")

    def unset_config(self, key: str) -> None:
        """Remove every occurrence of `key` from the repository's `.trace/config`."""
        from .config import update_file
        self._set_config(update_file(self._config_path(), lambda c: c.unset(key),
                                     fsync=self.durability == "full", top=self.trace_dir))

    def _config_path(self) -> str:
        return os.path.join(self.trace_dir, "config")

    def _view(self, repo_config: Config) -> ConfigView:
        """The effective settings over `repo_config` (keys already reported stay reported)."""
        from .settings import ConfigView
        old = self.__dict__.get("config")
        return ConfigView(repo_config, self.user_config, self.overrides, trusted=self.trusted,
                          trace_dir=self.trace_dir, on_ignored=self._root_warn,
                          reported=old._reported if old is not None else None)

    def _root_warn(self, text: str) -> None:
        self._root.warn(text)

    def _set_config(self, cfg: Config) -> None:
        root = self._root
        root.repo_config = cfg
        root.config = root._view(cfg)
        self.repo_config = cfg
        self.config = root.config

    # -- objects ------------------------------------------------------------------------------
    def write(self, objs: Iterable[TraceObject]) -> None:
        self.store.write(objs)

    def get(self, oid: bytes) -> TraceObject:
        return self.store.get(oid)

    def get_commit(self, oid: bytes) -> Commit:
        obj = self.store.get(oid)
        if not isinstance(obj, Commit):
            from .errors import RevisionError
            raise RevisionError(f"{to_hex(oid)} is a {obj.tag}, not a commit")
        return obj

    def get_snapshot(self, oid: bytes) -> Snapshot:
        obj = self.store.get(oid)
        if not isinstance(obj, Snapshot):
            from .errors import RevisionError
            raise RevisionError(f"{to_hex(oid)} is a {obj.tag}, not a snapshot")
        return obj

    def get_node(self, oid: bytes) -> Node:
        obj = self.store.get(oid)
        if not isinstance(obj, Node):
            from .errors import CorruptObject
            raise CorruptObject(to_hex(oid), f"expected a node, found a {obj.tag}")
        return obj

    def get_blob(self, oid: bytes) -> Blob:
        obj = self.store.get(oid)
        if not isinstance(obj, Blob):
            from .errors import CorruptObject
            raise CorruptObject(to_hex(oid), f"expected a blob, found a {obj.tag}")
        return obj

    @property
    def index(self) -> CommitIndex:
        """The derived SQLite commit index (opened lazily, shared with agent views)."""
        root = self._root
        if root._index is None:
            with root._index_lock:  # (the token writer's thread may open it too)
                if root._index is None:
                    from .index import CommitIndex
                    path = os.path.join(self.trace_dir, "index.sqlite")
                    for p in (path, path + "-wal", path + "-shm", path + "-journal"):
                        safefs.check_file(self.trace_dir, p)  # SQLite would follow a symlink
                    root._index = CommitIndex(path, self.store, on_repair=root.warn)
        return root._index

    # -- refs ---------------------------------------------------------------------------------
    def head_branch(self) -> str | None:
        """The ref HEAD points to (e.g. refs/heads/main), or None when detached."""
        if self.head_ref != "HEAD":
            return self.head_ref
        raw = self.refs.read("HEAD")
        if raw is not None and raw.startswith("ref:"):
            return raw[4:]
        return None

    def head_commit(self) -> RawId | None:
        hexid = self.refs.resolve(self.head_ref)
        return from_hex(hexid) if hexid else None

    # -- tokens -------------------------------------------------------------------------------
    def token_counter(self) -> TokenCounter:
        """The counter for this repository's encoding (loaded on first use), or a custom one."""
        root = self._root
        if root._token_counter is None:
            from .tokens import CharCounter, TiktokenCounter
            enc = self.encoding
            root._token_counter = CharCounter() if enc == CharCounter.name else TiktokenCounter(enc)
        return root._token_counter

    def set_token_counter(self, counter: TokenCounter) -> None:
        """Use a custom counter (anything with `name` and `count_text(text) -> int`)."""
        root = self._root
        root._token_counter = counter
        root._token_cache = {}

    @property
    def persist_tokens(self) -> bool:
        """Whether counts of new messages are written to the index's token cache, for every
        view of the repository (a read-only viewer, `trace web`, turns it off)."""
        return self._root._persist_tokens

    @persist_tokens.setter
    def persist_tokens(self, value: bool) -> None:
        self._root._persist_tokens = bool(value)

    def blob_tokens(self, oid: bytes, blob: Blob | None = None) -> int:
        """Tokens of one message including its framing, cached per blob and encoding (in the
        index too, unless `persist_tokens` was turned off: a read-only reader writes nothing)."""
        root = self._root
        cache = root._token_cache
        n = cache.get(oid)
        if n is not None:
            return n
        counter = self.token_counter()
        n = None
        if blob is None:  # a stored blob may have been counted by an earlier process
            try:
                n = self.index.get_tokens(oid, counter.name)
            except Exception:  # the index is only a cache
                n = None
        if n is None:
            from .tokens import count_message
            msg = (blob or self.get_blob(oid)).message
            n = count_message(msg, counter)
            if root._persist_tokens:
                pending = root._token_pending
                pending.append((oid, counter.name, n))
                if len(pending) >= TOKEN_FLUSH_ROWS:
                    self._flush_tokens_behind()
        cache[oid] = n
        return n

    def _flush_tokens_behind(self) -> None:
        """Write the pending counts to the index on a thread of their own (SQLite lets go of
        the interpreter lock while it writes; the index serializes its connection's users). The
        rows land on random pages of the token table: 512 of them into a 100,000-row index took
        15-100 ms with the WAL checkpoints, a stall of the commit they fell on. While the last
        write still runs, the rows wait for the next call; `flush_token_cache` (and close)
        waits for it and writes what is left."""
        root = self._root
        t = root._token_writer
        if t is not None and t.is_alive():
            return
        rows = list(root._token_pending)
        root._token_pending.clear()
        t = threading.Thread(target=self._put_tokens, args=(rows,), name="trace-tokens",
                             daemon=True)
        root._token_writer = t
        _TOKEN_WRITERS.add(t)
        t.start()

    def _put_tokens(self, rows: list) -> None:
        with contextlib.suppress(Exception):  # a cache write that fails costs only a recount
            self.index.put_tokens(rows)

    def flush_token_cache(self) -> None:
        """Write the pending token counts to the index now (after the background write, if
        one runs)."""
        root = self._root
        t = root._token_writer
        if t is not None:
            t.join()
            root._token_writer = None
        pending = root._token_pending
        if pending:
            # a cache write that fails costs only a recount later
            with contextlib.suppress(Exception):
                self.index.put_tokens(list(pending))
            pending.clear()
