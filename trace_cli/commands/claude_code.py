"""`trace import claude-code`: a Claude Code transcript imported as history, by hand or from a
hook (trace_core.integrations.claude_code; docs/integrations.md)."""

from __future__ import annotations

import sys

from ..util import echo, emit_json, fail, open_repo


def import_claude_code(obj, path: str | None, branch: str | None, hook: bool,
                       as_json: bool) -> None:
    """The body of `trace import claude-code [PATH] [--branch NAME] [--hook] [--json]`."""
    from trace_core.integrations import claude_code as cc
    if hook:
        if path is not None or branch is not None:
            fail("--hook reads the transcript path from the hook payload on stdin: give no "
                 "PATH or --branch", 2)
        payload = sys.stdin.buffer.read(cc.MAX_HOOK_PAYLOAD + 1)
        with open_repo(obj) as repo:
            report = cc.import_from_hook(repo, payload)
        if as_json:
            emit_json(report.to_dict())
        return                        # quiet: a hook's stdout may be shown to the model
    if path is None:
        fail("trace import claude-code needs the transcript: SESSION.jsonl (or --hook)", 2)
    with open_repo(obj) as repo:
        report = cc.import_claude_code(repo, path, branch)
    if as_json:
        emit_json(report.to_dict())
        return
    known = f", {report.known} records already imported" if report.known else ""
    echo(f"{report.branch}: {report.new} new commit{'s' if report.new != 1 else ''}{known}")
    for what, items in (("sub-agents", report.agents), ("rewound branches", report.rewinds)):
        if items:
            echo(f"  {what}: {', '.join(items)}")
    if report.compactions:
        echo(f"  compactions: {report.compactions} (what they dropped: "
             f"trace audit --lost {report.branch})")
