"""Claude Code: import a session transcript (`~/.claude/projects/…/<session>.jsonl`) as history,
incrementally, and the hook payload reader behind `trace import claude-code --hook`.

    from trace_core import Repository
    from trace_core.integrations.claude_code import import_claude_code
    report = import_claude_code(repo, "session.jsonl")      # branch claude/<session[:8]>

The active conversation becomes commits on a branch (one per message, the split lines of one
API response merged into one Anthropic message, tool_use / tool_result blocks kept, each commit's
`meta.user` holding the lines' uuids and timestamp, `usage` the API-reported tokens), abandoned
rewind branches become `<branch>-rewind-<uuid>` branches, sub-agents (sidechains) spawned agents
collapsed where their result returned, compaction boundaries compress commits whose provenance
keeps what the compaction dropped. Pure stdlib JSON; no Claude SDK. docs/integrations.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from typing import Any

from ...errors import InputError
from ...refs import check_agent_name
from ...repository import Repository
from . import transcript as T
from .importer import Importer, ImportReport, branch_view, default_branch, rewind_branch

__all__ = ["ImportReport", "default_branch", "import_claude_code", "import_from_hook",
           "rewind_branch"]

MAX_HOOK_PAYLOAD = 1 << 20


def _regular_file(path: Any, what: str) -> str:
    if not isinstance(path, str) or not path:
        raise InputError(f"{what} must be a file path")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {path} is not a regular file")
    return path


def _agent_name(aid: str) -> str:
    safe = "".join(c for c in aid if c.isalnum() or c in "-_.")[:58] or "unnamed"
    return check_agent_name(f"agent-{safe}")


def import_claude_code(repo: Repository, path: str, branch: str | None = None, *,
                       agent_files: tuple[str, ...] = ()) -> ImportReport:
    """Import the Claude Code transcript at `path` into `branch` (default
    `claude/<session[:8]>`), adding only what the branch does not hold yet (read from its
    commits' `meta.user["claude.uuid"]`). Sub-agents are read from the same file (sidechain
    lines) and from `<session>/subagents/agent-*.jsonl` (plus `agent_files`). Damaged lines warn
    through `repo.warn` and are skipped; InputError, with nothing written, when the file is not
    a transcript. HEAD does not move."""
    path = _regular_file(path, "transcript")
    with open(path, "rb") as lock:          # one import of a transcript at a time (hooks can
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)   # fire together); the lock is advisory
        return _import(repo, path, branch, agent_files)


def _import(repo: Repository, path: str, branch: str | None,
            agent_files: tuple[str, ...]) -> ImportReport:
    warned: list[str] = []
    main = T.read_transcript(path, warned.append)
    if main.recognized == 0:        # (its lines' warnings are not shown: the error says it)
        raise InputError(f"{path} is not a Claude Code transcript (no line is a transcript "
                         "record)")
    for text in warned:
        repo.warn(text)

    def warn(text: str) -> None:
        warned.append(text)
        repo.warn(text)

    session = main.session or os.path.splitext(os.path.basename(path))[0]
    report = ImportReport(path, main.session, branch or default_branch(session))
    view = branch_view(repo, report.branch)

    groups: dict[str, list[T.Record]] = {}
    for r in main.records:
        if r.sidechain:
            groups.setdefault(T.agent_id(r) or "sidechain", []).append(r)
    files = [*T.subagent_files(path), *(_regular_file(f, "agent transcript")
                                        for f in agent_files)]
    seen = {r.uuid for rs in groups.values() for r in rs}
    for f in dict.fromkeys(os.path.abspath(x) for x in files):
        sub = T.read_transcript(f, warn)
        base = os.path.basename(f)
        stem = base[len("agent-"):-len(".jsonl")] if base.startswith("agent-") and \
            base.endswith(".jsonl") else base
        for r in sub.records:
            if r.uuid not in seen:
                seen.add(r.uuid)
                groups.setdefault(T.agent_id(r) or stem, []).append(r)
    trunk = [r for r in main.records if not r.sidechain]
    calls = T.match_agents(trunk, groups)
    names = {aid: _agent_name(aid) for aid in set(calls.values())}
    agents = {call: names[aid] for call, aid in calls.items()}

    active, abandoned = T.chains(trunk)
    imp = Importer(repo, report, groups, names)
    imp.run(view, T.units(active, agents), rewinds=True)
    report.warnings = warned
    if not abandoned:
        return report
    on_active = {r.uuid for r in active}
    from ...plumbing.refs import create_ref
    from .importer import branch_state
    state = branch_state(view)
    for chain in abandoned:
        fork = max((i for i, r in enumerate(chain) if r.uuid in on_active), default=-1)
        tail = chain[fork + 1:]
        if not tail:
            continue
        name = rewind_branch(report.branch, tail[-1].uuid)
        full = f"refs/heads/{name}"
        if repo.refs.read(full) is None and fork >= 0:
            at = next((state.where[r.uuid] for r in reversed(chain[:fork + 1])
                       if r.uuid in state.where), None)
            if at is None:
                continue
            create_ref(repo, full, at.hex(), message="claude-code import: abandoned branch")
        before = report.new
        imp.run(branch_view(repo, name), T.units(tail), rewinds=False)
        if report.new > before and name not in report.rewinds:
            report.rewinds.append(name)
    return report


def import_from_hook(repo: Repository, payload: bytes | str) -> ImportReport:
    """Import the transcript a Claude Code hook's JSON payload names (`transcript_path`; and
    `agent_transcript_path` on SubagentStop). InputError for a payload that is not a hook's."""
    if isinstance(payload, bytes):
        if len(payload) > MAX_HOOK_PAYLOAD:
            raise InputError("hook payload is over 1 MiB")
        payload = payload.decode("utf-8", "replace")
    try:
        data = json.loads(payload)
    except ValueError:
        raise InputError("hook payload is not JSON (expected Claude Code's hook input on "
                         "stdin)") from None
    if not isinstance(data, dict) or not isinstance(data.get("transcript_path"), str):
        raise InputError("hook payload has no transcript_path (expected Claude Code's hook "
                         "input on stdin)")
    extra = data.get("agent_transcript_path")
    files = (extra,) if isinstance(extra, str) and extra else ()
    return import_claude_code(repo, data["transcript_path"], agent_files=files)
