"""The click-free fast path (trace_cli/fast.py) means exactly what click means, or steps aside."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

from conftest import run_cli
from trace_cli import fast
from trace_cli.main import COMMANDS

# options the fast path leaves to click on purpose (see fast.SPECS)
LEFT_TO_CLICK = {("rev-parse", "--short")}


def click_command(name):
    mod, attr = COMMANDS[name]
    return getattr(importlib.import_module(mod), attr)


@pytest.mark.parametrize("name", sorted(fast.SPECS))
def test_specs_declare_the_click_options(name):
    cmd = click_command(name)
    _fn, opts, positionals, _defaults = fast.SPECS[name]
    click_opts = {}
    for p in cmd.params:
        if p.param_type_name == "option":
            for o in p.opts + p.secondary_opts:
                click_opts[o] = p.name
    fast_opts = {o: dest for o, (dest, _kind) in opts.items()}
    expected = {o: d for o, d in click_opts.items() if (name, o) not in LEFT_TO_CLICK}
    assert fast_opts == expected
    args = [(p.name, p.nargs, p.required) for p in cmd.params if p.param_type_name == "argument"]
    assert [(d, n, r) for d, n, r, _ in positionals] == args


SAMPLES = {
    "log": [[], ["--oneline"], ["-n", "3", "--oneline", "HEAD"], ["-n5"], ["--max-count=2", "a..b"],
            ["--first-parent", "--no-pager", "--json", "x", "^y"], ["-n", "0"]],
    "status": [[], ["--json"]],
    "diff": [[], ["a"], ["--json", "a", "b"]],
    "show": [[], ["HEAD~2"], ["--json", "x"]],
    "context": [[], ["--format", "text"], ["--format=json", "HEAD~1"], ["r"]],
    "config": [[], ["-l"], ["--list"], ["k"], ["k", "v"], ["--get", "k"], ["--unset", "k"],
               ["--get", "--list"]],
    "rev-list": [[], ["HEAD"], ["--count", "-n", "4", "a", "^b"], ["--json", "--first-parent"]],
    "merge-base": [["a", "b"], ["--all", "a", "b"], ["--is-ancestor", "a", "b"]],
    "cat-object": [["-t", "x"], ["-s", "x"], ["-p", "x"], ["-e", "x"], ["--json", "x"], ["x"]],
    "ls-snapshot": [[], ["-l"], ["--long", "--json", "HEAD~1"]],
    "rev-parse": [["HEAD"], ["--verify", "HEAD~1"], ["--symbolic-full-name", "a", "b"]],
    "for-each-ref": [[], ["refs/heads/"], ["--format", "%(refname)"], ["--format=", "--json"]],
    "symbolic-ref": [["HEAD"], ["--short", "HEAD"], ["-m", "why", "HEAD", "refs/heads/x"],
                     ["-mwhy", "HEAD", "refs/heads/x"]],
    "check-ref-format": [["refs/heads/a"], ["-q", "x"], ["--quiet", "--allow-onelevel", "x"]],
    "reflog": [[], ["-n", "2"], ["--json", "-n1", "refs/heads/main"]],
    "graph": [[], ["--all"], ["-n", "3", "--json", "side..HEAD"], ["--color", "never", "--no-pager"],
              ["--color=always", "--max-count=2", "HEAD", "side"]],
}


@pytest.mark.parametrize("name", sorted(fast.SPECS))
def test_fast_parse_gives_clicks_parameters(name):
    cmd = click_command(name)
    for args in SAMPLES[name]:
        parsed = fast.parse([name, *args])
        assert parsed is not None, args
        fn, obj, kw = parsed
        ctx = cmd.make_context(name, list(args))
        assert kw == ctx.params, args
        mod, func = fn.split(".")
        assert callable(getattr(importlib.import_module(f"trace_cli.commands.{mod}"), func))


def test_global_options_and_declines():
    assert fast.parse(["-C", "d", "--agent", "w", "status"])[1] == {"directory": "d", "agent": "w"}
    assert fast.parse(["-Cd", "--agent=w", "status"])[1] == {"directory": "d", "agent": "w"}
    for argv in ([], ["--help"], ["-h"], ["--version"], ["status", "-h"], ["log", "--help"],
                 ["log", "--", "x"], ["cat-object", "-tp", "x"], ["log", "-n", "-1"],
                 ["log", "-n", "x"], ["log", "-n"], ["log", "--oneline=1"], ["log", "--bogus"],
                 ["context", "--format", "yaml"], ["rev-parse"], ["rev-parse", "--short", "x"],
                 ["merge-base", "a"], ["diff", "a", "b", "c"], ["reflog", "-n", "0"],
                 ["-X", "status"], ["commit", "hi"], ["nosuch"], ["-C"], ["status", "extra"]):
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
]


def test_fast_and_click_paths_print_the_same(tmp_path):
    d = str(tmp_path / "r")
    run_cli("init", "--encoding", "chars/4", "-q", d, check=True)
    for text in ("one", "two", "esc \x1b[31mred\x1b[0m", "four"):
        run_cli("-C", d, "commit", text, check=True)
    run_cli("-C", d, "update-ref", "refs/heads/side", "HEAD~2", check=True)
    run_cli("-C", d, "config", "budget.max-tokens", "5", check=True)
    for args in PARITY:
        a = run_cli("-C", d, *args)
        b = run_cli("-C", d, *args, env={"_TRACE_NO_FASTPATH": "1"})
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args


def test_read_only_commands_do_not_import_click_or_tiktoken(tmp_path):
    d = str(tmp_path / "r")
    run_cli("init", "--encoding", "chars/4", "-q", d, check=True)
    run_cli("-C", d, "commit", "hello", check=True)
    code = ("import os, sys; sys.argv = ['trace', '-C', sys.argv[1]] + sys.argv[2:]\n"
            "def report(*a):\n"
            "    bad = [m for m in ('click', 'tiktoken') if m in sys.modules]\n"
            "    sys.stderr.write('IMPORTED %s' % bad)\n"
            "    sys.stderr.flush()\n"
            "    real(*a)\n"
            "real, os._exit = os._exit, report\n"
            "from trace_cli.main import main\n"
            "main()\n")
    env = dict(os.environ)
    env.pop("TRACE_DIR", None)
    for args in (["log", "--oneline"], ["rev-parse", "HEAD"], ["status"], ["rev-list", "HEAD"],
                 ["cat-object", "-p", "HEAD"]):
        p = subprocess.run([sys.executable, "-c", code, d, *args], capture_output=True, text=True,
                           env=env)
        assert p.stderr.endswith("IMPORTED []"), (args, p.stderr)
