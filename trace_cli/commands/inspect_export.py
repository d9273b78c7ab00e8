"""`trace export` and `trace import`: bundles of objects and refs as JSON lines, and the flat
table of messages (trace_core.inspect.export and .importer; docs/inspect.md)."""

from __future__ import annotations

import contextlib
import json
import sys

from ..declare import JSON, IntRange, argument, command, flag, option
from ..util import echo, emit_json, fail, open_repo


@contextlib.contextmanager
def _output(path: str | None):
    """The text stream to write to: FILE (written whole, then renamed into place) or stdout."""
    if path is None or path == "-":
        yield sys.stdout
        return
    import os
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            yield f
        os.replace(tmp, path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@command("export",
         flag("--all", dest="all_refs",
              help="Every ref of every agent namespace (and all they reach)."),
         flag("--messages", help="One JSON line per message each commit introduced, for "
                                 "analysis (not importable)."),
         option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout."),
         flag("--otel", help="OpenTelemetry spans instead of a bundle (as `trace export-otel`: "
                             "to --endpoint, else as JSON lines)."),
         option("--endpoint", metavar="URL",
                help="--otel: the OTLP/HTTP endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT)."),
         option("--html", metavar="FILE",
                help="The web viewer as one self-contained HTML file (- for stdout) holding "
                     "the whole repository, every agent (--all is implied; docs/web.md)."),
         option("-n", "--max-count", dest="limit", type=IntRange(min=1),
                help="--html: only the newest N commits of the graph."),
         argument("revs", nargs=-1))
def export(obj, revs=(), all_refs=False, messages=False, output=None, otel=False,
           endpoint=None, html=None, limit=None) -> None:
    """Write a bundle of REVS (default HEAD) or --all as JSON lines: objects, then refs.

    \b
    trace export --all -o bundle.jsonl     everything, every agent
    trace export main feature > b.jsonl    two branches and what they reach
    trace export --messages --all          a flat table of messages (pandas.read_json(lines=True))
    trace export --html run.html           the web viewer as one file, to attach to a report

    Every object line holds the object's canonical bytes (raw, base64) and a readable view of
    them; `trace import` recreates identical ids and refs (docs/FORMAT.md, "Bundles")."""
    if all_refs and revs:
        fail("give either --all or revisions, not both")
    if html is not None:
        if revs or messages or otel or output is not None or endpoint is not None:
            fail("--html exports the whole repository: it takes no revisions, --messages, "
                 "--otel, --output or --endpoint", 2)
        _export_html(obj, html, limit)
        return
    if limit is not None:
        fail("--max-count is for --html", 2)
    if otel:
        if messages or output is not None:
            fail("--otel takes neither --messages nor --output", 2)
        from .inspect_otel import otel_export
        otel_export(obj, revs, all_refs, endpoint)
        return
    if endpoint is not None:
        fail("--endpoint is for --otel", 2)
    with open_repo(obj) as repo, _output(output) as out:
        if messages:
            for row in repo.export_messages(revs, all=all_refs):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            for line in repo.export(revs, all=all_refs):
                out.write(line)
        out.flush()


def _export_html(obj, path: str, limit: int | None) -> None:
    from ..util import end_progress, progress
    with open_repo(obj) as repo:
        cb = progress("Exporting commits")
        try:
            page = repo.export_html(limit=limit, progress=cb)
        finally:
            end_progress(cb)
    with _output(path) as out:
        out.write(page)
    if path != "-":
        echo(f"wrote {path} ({len(page.encode()) // 1024} KiB)")


@command("import",
         option("--namespace", metavar="PREFIX",
                help="Put every ref under refs/imported/PREFIX/ (agents' refs under "
                     "refs/imported/PREFIX/agents/NAME/) instead of its own name."),
         flag("--force", help="Overwrite refs that hold another value."),
         option("--branch", metavar="NAME",
                help="claude-code: the branch to import into (default claude/<session>)."),
         flag("--hook", help="claude-code: read a Claude Code hook's JSON payload on stdin and "
                             "import its transcript_path (quiet; for .claude/settings.json)."),
         JSON,
         argument("file", required=True),
         argument("path"))
def import_(obj, file=None, path=None, namespace=None, force=False, branch=None, hook=False,
            as_json=False) -> None:
    """Import a bundle (FILE, or - for stdin): verify every line, write objects, then refs.

    \b
    trace import bundle.jsonl                     refused if a ref holds another value here
    trace import --namespace alice bundle.jsonl   refs under refs/imported/alice/
    trace export --all | trace -C other import -
    trace import claude-code SESSION.jsonl        a Claude Code transcript, incrementally
    trace import claude-code --hook               the same from a hook (docs/integrations.md)

    Nothing is written when a line is damaged (bad hash, truncated, junk) or a ref conflicts."""
    if file == "claude-code":
        if namespace is not None or force:
            fail("claude-code takes neither --namespace nor --force", 2)
        from .claude_code import import_claude_code
        import_claude_code(obj, path, branch, hook, as_json)
        return
    if path is not None or branch is not None or hook:
        fail("a bundle import takes one FILE; --branch and --hook are for "
             "'trace import claude-code'", 2)
    with open_repo(obj) as repo:
        source = sys.stdin.buffer if file == "-" else file
        report = repo.import_bundle(source, namespace=namespace, force=force)
    if as_json:
        emit_json(report.__dict__)
        return
    echo(f"imported {report.objects} objects ({report.written} new), "
         f"{len(report.refs)} refs set, {report.unchanged} unchanged")
    for agent, name, value in report.refs:
        where = f"{agent}: " if agent else ""
        echo(f"  {where}{name} -> {value[4:] if value.startswith('ref:') else value[:12]}")
