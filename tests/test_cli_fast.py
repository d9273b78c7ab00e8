"""The click-free fast path (trace_cli/fast.py) means exactly what click means, or steps aside."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import invoke_cli, run_cli

from trace_cli import fast
from trace_cli.clickgen import to_click
from trace_cli.declare import Command, Group, Option
from trace_cli.registry import COMMANDS

FAST = sorted(n for n in COMMANDS if getattr(fast.declaration(n), "fast", False))


def click_command(name):
    return to_click(fast.declaration(name))


def test_the_read_only_commands_are_the_fast_ones():
    assert sorted(SAMPLES) == FAST
    for name in COMMANDS:
        assert isinstance(fast.declaration(name), (Command, Group)), name


def test_command_modules_do_not_import_click():
    code = ("import importlib, sys\n"
            "from trace_cli.registry import COMMANDS\n"
            "for mod, _ in COMMANDS.values():\n"
            "    importlib.import_module(mod)\n"
            "print(sorted(m for m in sys.modules if m == 'click' or m.startswith('click.')))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert p.stdout.strip() == "[]"


SAMPLES = {
    "log": [[], ["--oneline"], ["-n", "3", "--oneline", "HEAD"], ["-n5"], ["--max-count=2", "a..b"],
            ["--first-parent", "--no-pager", "--json", "x", "^y"], ["-n", "0"]],
    "status": [[], ["--json"]],
    "diff": [[], ["a"], ["--json", "a", "b"]],
    "blame": [[], ["HEAD~1"], ["--entry", "3"], ["--entry=0", "--json", "x"], ["--grep", "t"]],
    "show": [[], ["HEAD~2"], ["--json", "x"]],
    "context": [[], ["--format", "text"], ["--format=json", "HEAD~1"], ["r"],
                ["--expand", "--format", "anthropic", "HEAD~1"]],
    "config": [[], ["-l"], ["--list"], ["k"], ["k", "v"], ["--get", "k"], ["--unset", "k"],
               ["--get", "--list"], ["--global", "-l"], ["--global", "k", "v"]],
    "rev-list": [[], ["HEAD"], ["--count", "-n", "4", "a", "^b"], ["--json", "--first-parent"]],
    "merge-base": [["a", "b"], ["--all", "a", "b"], ["--is-ancestor", "a", "b"]],
    "cat-object": [["-t", "x"], ["-s", "x"], ["-p", "x"], ["-e", "x"], ["--json", "x"], ["x"],
                   ["--batch"], ["--batch-check", "--json"]],
    "ls-snapshot": [[], ["-l"], ["--long", "--json", "HEAD~1"]],
    "rev-parse": [["HEAD"], ["--verify", "HEAD~1"], ["--symbolic-full-name", "a", "b"]],
    "for-each-ref": [[], ["refs/heads/"], ["--format", "%(refname)"], ["--format=", "--json"]],
    "symbolic-ref": [["HEAD"], ["--short", "HEAD"], ["-m", "why", "HEAD", "refs/heads/x"],
                     ["-mwhy", "HEAD", "refs/heads/x"]],
    "check-ref-format": [["refs/heads/a"], ["-q", "x"], ["--quiet", "--allow-onelevel", "x"]],
    "reflog": [[], ["-n", "2"], ["--json", "-n1", "refs/heads/main"]],
    "branch": [[], ["--json"], ["x"], ["-d", "x"], ["-m", "a", "b"], ["-f", "x", "HEAD~1"]],
    "tag": [[], ["--json"], ["v1"], ["-d", "v1"], ["-f", "v1", "HEAD~1"]],
    "commit": [["hi"], ["--role", "assistant", "hi"], ["-F", "f"], ["--input", "json"],
               ["--input=jsonl", "-m", "msg"], ["--type", "pin"],
               ["--pin", "--author", "a", "x"], ["--strict", "x"], ["--reapply"], ["--json"]],
    "reset": [[], ["--hard", "HEAD~2"], ["--soft", "x"], ["--strict", "HEAD~1"]],
    "checkout": [["main"], ["--strict", "HEAD~1"]],
    "switch": [["x"], ["-c", "x"], ["-c", "x", "HEAD~1"], ["--detach", "HEAD~1"]],
    "merge": [["x"], ["-s", "ours", "x"], ["--ff-only", "x"], ["--no-ff", "-m", "m", "x"],
              ["--continue"], ["--abort"], ["--strategy=union", "--strict", "x"]],
    "graph": [[], ["--all"], ["-n", "3", "--json", "side..HEAD"],
              ["--color", "never", "--no-pager"],
              ["--color=always", "--max-count=2", "HEAD", "side"], ["--agents", "--json"]],
    "expand": [["x"], ["--json", "HEAD~1"], ["--context", "a"], ["--format", "openai", "a"],
               ["--depth", "0", "-n", "5", "--no-marks", "--repair", "placeholder", "a"]],
    "gc": [[], ["--json"], ["--prune", "now"], ["--prune=2.weeks", "--aggressive"], ["-n"],
           ["--dry-run", "--json"], ["--no-retention"]],
    "audit": [["--lost"], ["--lost", "--json", "HEAD~2..HEAD"], ["--knew", "a", "--when", "b:HEAD"],
              ["--knew", ".", "--when=HEAD", "--basis", "time", "--json"]],
}


@pytest.mark.parametrize("name", FAST)
def test_fast_parse_gives_clicks_parameters(name):
    cmd = click_command(name)
    for args in SAMPLES[name]:
        parsed = fast.parse([name, *args])
        assert parsed is not None, args
        decl, obj, kw = parsed
        assert decl is fast.declaration(name) and obj == {}
        ctx = cmd.make_context(name, list(args))
        assert kw == ctx.params, args


_VALUES = ["0", "1", "7", "-1", "x", "", "HEAD", "a..b", "^y", "-", "--json", "%(refname)"]
_JUNK = ["--", "--bogus", "-tp", "-X", "-h", "--help"]


def _items(name):
    """Pieces a command line of `name` is made of: each option with a value (separate or
    attached) or alone, positional words, and words the fast path must leave to click."""
    from hypothesis import strategies as st

    pieces = [st.sampled_from([[v] for v in _VALUES + _JUNK])]
    for p in fast.declaration(name).params:
        if not isinstance(p, Option):
            continue
        values = st.sampled_from(_VALUES + list(getattr(p.type, "values", ())))
        for n in p.names:
            attach = "=" if n.startswith("--") else ""
            pieces += [st.just([n]), values.map(lambda v, n=n: [n, v]),
                       values.map(lambda v, n=n, a=attach: [f"{n}{a}{v}"])]
    return st.lists(st.one_of(pieces), max_size=5).map(lambda xs: [t for x in xs for t in x])


@pytest.mark.parametrize("name", FAST)
def test_fast_path_never_disagrees_with_click(name):
    """Random command lines: whatever the fast path accepts, click parses to the same values."""
    import click
    from hypothesis import HealthCheck, given, settings

    cmd = click_command(name)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_items(name))
    def check(args):
        parsed = fast.parse([name, *args])
        if parsed is None:
            return
        try:
            ctx = cmd.make_context(name, list(args))
        except click.exceptions.Exit:
            raise AssertionError(f"fast path took a line click exits on: {args}") from None
        except click.UsageError as exc:
            raise AssertionError(f"fast path took a line click refuses: {args}: {exc}") from None
        assert parsed[2] == ctx.params, args
    check()


def test_global_options_and_declines():
    assert fast.parse(["-C", "d", "--agent", "w", "status"])[1] == {"directory": "d", "agent": "w"}
    assert fast.parse(["-Cd", "--agent=w", "status"])[1] == {"directory": "d", "agent": "w"}
    assert fast.parse(["-C", "d", "init"]) is None                # not a fast command
    for argv in ([], ["--help"], ["-h"], ["--version"], ["status", "-h"], ["log", "--help"],
                 ["log", "--", "x"], ["cat-object", "-tp", "x"], ["log", "-n", "-1"],
                 ["log", "-n", "x"], ["log", "-n"], ["log", "--oneline=1"], ["log", "--bogus"],
                 ["context", "--format", "yaml"], ["rev-parse"], ["rev-parse", "--short", "x"],
                 ["merge-base", "a"], ["diff", "a", "b", "c"], ["reflog", "-n", "0"],
                 ["-X", "status"], ["init", "x"], ["nosuch"], ["-C"], ["status", "extra"]):
        assert fast.parse(argv) is None, argv


PARITY = [
    ["log"], ["log", "--oneline"], ["log", "--oneline", "-n", "2"], ["log", "--json", "-n", "2"],
    ["log", "--oneline", "side..HEAD"], ["log", "--oneline", "nosuch"], ["rev-list", "HEAD"],
    ["rev-list", "--count", "HEAD", "^side"], ["rev-list", "--json", "-n", "1"],
    ["rev-parse", "HEAD~1", "side"], ["rev-parse", "--verify", "nosuch"], ["status"],
    ["status", "--json"], ["show"], ["show", "--json", "HEAD~1"], ["diff"], ["diff", "--json"],
    ["context"], ["context", "--format", "text"], ["config", "-l"], ["config", "core.nokey"],
    ["cat-object", "-p", "HEAD"], ["cat-object", "-t", "HEAD"], ["cat-object", "-e", "0000"],
    ["ls-snapshot", "-l"], ["for-each-ref"], ["symbolic-ref", "--short", "HEAD"],
    ["check-ref-format", "a..b"], ["reflog", "-n", "2"], ["merge-base", "HEAD", "side"],
    ["merge-base", "--is-ancestor", "side", "HEAD"], ["graph"], ["graph", "--all"],
    ["graph", "-n", "2", "--json"], ["graph", "--color", "always"], ["graph", "nosuch"],
    ["branch"], ["branch", "--json"], ["tag", "--json"],
]


FAILING = {("log", "--oneline", "nosuch"), ("rev-parse", "--verify", "nosuch"),
           ("config", "core.nokey"), ("cat-object", "-e", "0000"), ("check-ref-format", "a..b"),
           ("graph", "nosuch")}


@pytest.fixture
def sample_repo(tmp_path):
    """Four commits (one holding ANSI escapes), branch side at HEAD~2, a budget it is over."""
    d = str(tmp_path / "r")
    invoke_cli("init", "--encoding", "chars/4", "-q", d, check=True)
    for text in ("one", "two", "esc \x1b[31mred\x1b[0m", "four"):
        invoke_cli("-C", d, "commit", text, check=True)
    invoke_cli("-C", d, "update-ref", "refs/heads/side", "HEAD~2", check=True)
    invoke_cli("-C", d, "config", "budget.max-tokens", "5", check=True)
    return d


def test_fast_and_click_paths_print_the_same(sample_repo, monkeypatch):
    """Each PARITY line through the real entry point in this process, once with the fast path
    (click's runner made to fail, so the line must be the fast path's) and once through click."""
    import trace_cli.util

    def click_ran(cli):
        raise AssertionError("the fast path declined the line and click ran it")

    failed = set()
    for args in PARITY:
        argv = ["-C", sample_repo, *args]
        assert fast.parse(argv) is not None, args
        with monkeypatch.context() as m:
            m.setattr(trace_cli.util, "run", click_ran)
            a = invoke_cli(*argv, env={"_TRACE_NO_FASTPATH": None})
        b = invoke_cli(*argv)
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args
        if a.returncode:
            failed.add(tuple(args))
        else:
            assert a.stdout or args[:2] == ["merge-base", "--is-ancestor"], args
    assert failed == FAILING


def test_fast_and_click_processes_print_the_same(sample_repo):
    """Whole processes, as a user runs them: output to a pipe (a message holding ANSI escapes),
    exit status through the fast path's os._exit, an error line."""
    for args in (["log", "--oneline", "side..HEAD"], ["context", "--format", "text"],
                 ["rev-parse", "--verify", "nosuch"]):
        a = run_cli("-C", sample_repo, *args)
        b = run_cli("-C", sample_repo, *args, env={"_TRACE_NO_FASTPATH": "1"})
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args
        assert a.stdout if a.returncode == 0 else a.stderr.startswith("error: "), (args, a)


def test_read_only_commands_do_not_import_click_or_tiktoken(sample_repo):
    """One fresh process runs each line through the fast path in turn (os._exit made an
    exception) and reports its exit status and whether click or tiktoken is loaded."""
    code = ("import os, sys\n"
            "class Exited(BaseException): pass\n"
            "def report(code): raise Exited(code)\n"
            "os._exit = report\n"
            "from trace_cli.main import main\n"
            "repo, lines = sys.argv[1], sys.argv[2:]\n"
            "for line in lines:\n"
            "    sys.argv = ['trace', '-C', repo, *line.split()]\n"
            "    try:\n"
            "        main()\n"
            "    except Exited as e:\n"
            "        status = e.args[0]\n"
            "    bad = [m for m in ('click', 'tiktoken') if m in sys.modules]\n"
            "    sys.stderr.write('%s: %s IMPORTED %s\\n' % (line, status, bad))\n")
    lines = ["log --oneline", "rev-parse HEAD", "status", "rev-list HEAD", "cat-object -p HEAD",
             "graph", "context --format text", "branch", "--version", "--help", "log --help",
             "commit --help"]
    env = dict(os.environ)
    env.pop("TRACE_DIR", None)
    p = subprocess.run([sys.executable, "-c", code, sample_repo, *lines], capture_output=True,
                       text=True, env=env, check=False)
    report = [ln for ln in p.stderr.splitlines() if not ln.startswith("warning: ")]
    assert p.returncode == 0 and report == [f"{ln}: 0 IMPORTED []" for ln in lines], p.stderr


# -- --version and help pages without click ------------------------------------------------------

def _click_help(decl, path: list, width: int) -> str:
    """click's own help page of the declaration reached by `path` (after `trace`)."""
    import click

    from trace_cli.main import cli

    ctx = click.Context(cli, info_name="trace", terminal_width=width, **cli.context_settings)
    cmd = cli
    for name in path:
        cmd = cmd.get_command(ctx, name) if isinstance(cmd, click.Group) else None
        ctx = click.Context(cmd, info_name=name, parent=ctx, terminal_width=width)
    return cmd.get_help(ctx)


def _pages():
    """(path after `trace`, declaration) of every help page: each command, group and subcommand."""
    for name in COMMANDS:
        decl = fast.declaration(name)
        yield [name], decl
        if isinstance(decl, Group):
            for sub in decl.commands:
                yield [name, sub.name], sub


@pytest.fixture
def fresh_click():
    """Click commands built anew (before and after): click keeps a command's help option once
    made, and the contexts other tests make have no -h."""
    def reset():
        for _, decl in _pages():
            decl._click = None
    reset()
    yield
    reset()


@pytest.mark.parametrize("width", [78, 58, 50])
def test_help_pages_equal_clicks(width, fresh_click):
    """Every page the fast path prints is the page click prints, at several widths."""
    from trace_cli import help

    assert help.root_help(width) == _click_help(None, [], width)
    for path, decl in _pages():
        mine = help.command_help(decl, " ".join(["trace", *path]), width)
        assert mine == _click_help(decl, path, width), path


def test_help_width_follows_the_terminal(monkeypatch):
    from trace_cli import help

    for columns, width in (("120", 78), ("80", 78), ("60", 58), ("30", 50), ("x", 78)):
        monkeypatch.setenv("COLUMNS", columns)
        assert help.width() == width, columns


def test_command_summaries_are_the_docstrings_first_sentences():
    """registry.SUMMARY (the top-level page, read without importing the command modules) says
    what each command's docstring says; when one changes, put the new sentence there."""
    from trace_cli import help
    from trace_cli.registry import SUMMARY

    assert sorted(SUMMARY) == sorted(COMMANDS)
    for name in COMMANDS:
        doc = fast.declaration(name).help
        assert SUMMARY[name] == help.short_help(help.first_paragraph(doc), 10**6), name


def test_version_is_pyprojects():
    import tomllib

    import trace_cli
    import trace_core

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert trace_cli.__version__ == trace_core.__version__ == version


META = [["--version"], ["--help"], ["-h"], ["log", "--help"], ["commit", "-h"], ["llm", "--help"],
        ["llm", "complete", "--help"], ["-C", "x", "--agent", "a", "--version"],
        ["-C", "x", "status", "-h"]]


def test_version_and_help_lines_take_the_fast_path(monkeypatch, fresh_click):
    """Through the real entry point: each META line prints what click prints for it, without
    click (its runner made to fail); lines around them stay click's. (Click's test runner
    formats help 80 columns wide: so does the fast path here.)"""
    import trace_cli.util
    from trace_cli import help

    monkeypatch.setattr(help, "width", lambda: 80)

    def click_ran(cli):
        raise AssertionError("the fast path declined the line and click ran it")

    for args in META:
        assert fast.meta_page(args) is not None, args
        with monkeypatch.context() as m:
            m.setattr(trace_cli.util, "run", click_ran)
            a = invoke_cli(*args, env={"_TRACE_NO_FASTPATH": None})
        b = invoke_cli(*args)
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args
        assert a.returncode == 0 and a.stdout.strip(), args
    from trace_cli import __version__
    assert invoke_cli("--version").stdout == f"trace, version {__version__}\n"
    for args in ([], ["--version", "log"], ["log", "-n", "--help"], ["log", "x", "--help"],
                 ["nosuch", "--help"], ["llm", "nosuch", "--help"], ["--help", "--help"],
                 ["-C", "--help"], ["--bogus", "--help"], ["log", "--", "--help"]):
        assert fast.meta_page(args) is None, args
