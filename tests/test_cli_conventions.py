"""The command-line conventions a git user expects (issue 16, item 7): colour (--color, NO_COLOR,
color.ui), the pager (show/diff/context/log/graph, --no-pager, TRACE_PAGER/core.pager/PAGER),
"did you mean" for a mistyped command, shell completion, -C of a missing directory, warnings for
unknown config keys and the grouped top-level help."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest
from conftest import assert_one_line_error, invoke, invoke_cli, run_cli

GREEN, YELLOW = "\x1b[32m", "\x1b[33m"
NO_ENV = {"NO_COLOR": None, "TRACE_PAGER": None, "PAGER": None}


@pytest.fixture
def hist(rdir):
    """A repository with two commits (so `diff` and `show` print colored lines) and a branch."""
    invoke(rdir, "commit", "one", check=True)
    invoke(rdir, "commit", "two", check=True)
    invoke(rdir, "branch", "feature", check=True)
    return rdir


def _env(**extra) -> dict:
    """The process environment of a child `trace`: no colour or pager settings of the developer."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "TRACE_PAGER", "PAGER", "TRACE_DIR", "LESS", "LV")}
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def run_tty(*args, env=None, cwd=None, timeout=30.0) -> tuple[int, str]:
    """`trace ARGS` in a real process whose stdin, stdout and stderr are a terminal (a pty);
    (exit status, what the terminal showed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "trace_cli", *args], stdin=slave, stdout=slave,
                         stderr=slave, env=env if env is not None else _env(), cwd=cwd,
                         close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:          # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    code = p.wait(timeout=timeout)
    os.close(master)
    return code, out.decode("utf-8", "replace").replace("\r\n", "\n")


# -- colour -------------------------------------------------------------------------------------

def test_color_precedence_flag_no_color_config_auto(hist, tmp_path):
    """--color > NO_COLOR > color.ui > auto; output to a non-terminal is plain under auto."""
    def show(*pre, env=None, **kw):
        p = invoke_cli(*pre, "-C", hist, "show", env={**NO_ENV, **(env or {})}, **kw)
        assert p.returncode == 0, p.stderr
        return YELLOW in p.stdout

    assert not show()                                        # auto, not a terminal
    assert show("--color=always") and show("--color", "always") and show("--color")
    assert not show("--color=never")
    assert show("--color=always", env={"NO_COLOR": "1"})     # the flag beats NO_COLOR
    assert show("-c", "color.ui=always")
    assert not show("-c", "color.ui=always", env={"NO_COLOR": "1"})  # NO_COLOR beats color.ui
    assert show("-c", "color.ui=always", env={"NO_COLOR": ""})   # an empty NO_COLOR is unset
    assert not show("--color=never", "-c", "color.ui=always")
    assert not show("-c", "color.ui=true")       # true means auto (git): plain into a pipe
    # color.ui from the repository's config (harmless: any source may set it)
    invoke(hist, "config", "color.ui", "always", check=True)
    assert show() and not show(env={"NO_COLOR": "x"}) and not show("--color=never")
    # ... and from your own global config file
    invoke(hist, "config", "--unset", "color.ui", check=True)
    glob = tmp_path / "global"
    glob.write_text("[color]\n\tui = always\n")
    assert show(env={"TRACE_CONFIG_GLOBAL": str(glob)})


def test_color_reaches_every_colored_command(hist):
    """diff, log, status's budget bar and graph all take their colour from the one decision."""
    invoke(hist, "config", "budget.max-tokens", "1000", check=True)
    for args, mark in ((["diff"], GREEN), (["log"], "\x1b["), (["status"], GREEN),
                       (["graph"], YELLOW), (["branch"], GREEN)):
        on = invoke_cli("--color=always", "-C", hist, *args, env=NO_ENV, check=True)
        off = invoke_cli("-C", hist, *args, env={**NO_ENV, "NO_COLOR": "1"}, check=True)
        assert mark in on.stdout and "\x1b[" not in off.stdout, args
    # graph's own --color still wins over the global one
    p = invoke_cli("--color=always", "-C", hist, "graph", "--color", "never", env=NO_ENV)
    assert "\x1b[" not in p.stdout


def test_color_usage_errors(hist):
    p = invoke_cli("--color=purple", "-C", hist, "show", env=NO_ENV)
    assert p.returncode == 2 and "'purple' is not one of" in p.stderr
    assert_one_line_error(invoke(hist, "config", "color.ui", "purple"),
                          "color.ui must be one of auto, always, never, true, false")
    with open(os.path.join(hist, ".trace", "config"), "a") as f:    # written by hand
        f.write("[color]\n\tui = purple\n")
    p = invoke_cli("-C", hist, "show", env=NO_ENV)
    assert p.returncode == 0 and "commit " in p.stdout and "\x1b[" not in p.stdout
    assert p.stderr == ("warning: color.ui must be one of auto, always, never, true, false, "
                        "got 'purple'; colour is auto\n")


def test_color_on_the_fast_path_and_a_terminal(hist):
    """The fast path (a real process) decides as the click path; on a terminal auto colours,
    NO_COLOR does not."""
    env = _env(NO_COLOR="1")
    a = run_cli("--color=always", "-C", hist, "show", env=env)
    b = run_cli("--color=always", "-C", hist, "show", env={**env, "_TRACE_NO_FASTPATH": "1"})
    assert a.returncode == 0 and a.stdout == b.stdout and YELLOW in a.stdout
    c = run_cli("-C", hist, "diff", env=_env())
    assert c.returncode == 0 and "+ #1" in c.stdout and "\x1b[" not in c.stdout
    code, screen = run_tty("-P", "-C", hist, "diff", env=_env())
    assert code == 0 and GREEN in screen, screen
    code, screen = run_tty("-P", "-C", hist, "diff", env=_env(NO_COLOR="1"))
    assert code == 0 and "+ #1" in screen and "\x1b[" not in screen, screen


# -- pager --------------------------------------------------------------------------------------

def _pager(tmp_path, name="paged"):
    """A pager program line that saves what it is given (and its LESS/LV) to files."""
    out = tmp_path / name
    return (f"env > '{out}.env'; cat > '{out}'"), out


@pytest.mark.parametrize("fast", [True, False])
def test_show_diff_context_log_page_on_a_terminal(hist, tmp_path, fast):
    extra = {} if fast else {"_TRACE_NO_FASTPATH": "1"}
    cases = (("show", "commit "), ("diff", "+ #1"), ("context", '"role"'), ("log", "append"),
             ("graph", "two"))
    for cmd, expect in cases if fast else cases[:2]:     # (the click path: the same hook)
        line, out = _pager(tmp_path, f"{cmd}-{fast}")
        code, screen = run_tty("-C", hist, cmd, env=_env(TRACE_PAGER=line, **extra))
        assert code == 0, screen
        assert expect in out.read_text(), (cmd, screen)
        assert expect not in screen, cmd                   # it went to the pager only
        env = dict(line.split("=", 1) for line in out.with_suffix(".env").read_text()
                   .splitlines() if "=" in line)
        assert env.get("LESS") == "FRX" and env.get("LV") == "-c", cmd
    # a LESS of the user's is theirs
    line, out = _pager(tmp_path, f"less-{fast}")
    run_tty("-C", hist, "show", env=_env(TRACE_PAGER=line, LESS="-S", **extra))
    assert "LESS=-S\n" in out.with_suffix(".env").read_text()


def test_no_pager_and_non_terminals(hist, tmp_path):
    line, out = _pager(tmp_path)
    for pre, post in ((["--no-pager"], []), (["-P"], []), ([], ["--no-pager"])):
        code, screen = run_tty(*pre, "-C", hist, "log", *post, env=_env(TRACE_PAGER=line))
        assert code == 0 and "append" in screen and not out.exists(), (pre, post)
    for value in ("", "cat"):                              # git: an empty pager or cat is none
        code, screen = run_tty("-C", hist, "show", env=_env(TRACE_PAGER=value))
        assert code == 0 and "commit " in screen
    p = run_cli("-C", hist, "show", env=_env(TRACE_PAGER=line))   # stdout is a pipe
    assert p.returncode == 0 and "commit " in p.stdout and not out.exists()
    code, screen = run_tty("-C", hist, "status", env=_env(TRACE_PAGER=line))
    assert code == 0 and "On branch" in screen and not out.exists()   # status is not paged


def test_quitting_the_pager_early_is_not_an_error(hist):
    for _ in range(30):                      # a context long enough to outlast a pipe buffer
        invoke(hist, "commit", "x" * 4000, check=True)
    for cmd in ("show", "context", "log"):
        code, screen = run_tty("-C", hist, cmd, env=_env(TRACE_PAGER="head -c 10"))
        assert code == 0, (cmd, screen)


def test_which_pager(hist, tmp_path):
    """TRACE_PAGER > core.pager (your own config) > PAGER; a repository never chooses it."""
    glob = tmp_path / "global"
    t_line, t_out = _pager(tmp_path, "t")
    c_line, c_out = _pager(tmp_path, "c")
    p_line, p_out = _pager(tmp_path, "p")
    glob.write_text(f'[core]\n\tpager = "{c_line}"\n')
    base = {"TRACE_CONFIG_GLOBAL": str(glob), "PAGER": p_line}
    run_tty("-C", hist, "show", env=_env(TRACE_PAGER=t_line, **base))
    assert t_out.exists() and not c_out.exists() and not p_out.exists()
    run_tty("-C", hist, "show", env=_env(**base))
    assert c_out.exists() and not p_out.exists()
    c_out.unlink()
    run_tty("-c", f"core.pager={t_line}", "-C", hist, "diff", env=_env(**base))  # -c: yours
    assert "+ #1" in t_out.read_text() and not c_out.exists()
    run_tty("-C", hist, "show", env=_env(PAGER=p_line))
    assert p_out.exists()
    # a repository's core.pager: refused by `trace config`, ignored when written by hand
    assert_one_line_error(invoke(hist, "config", "core.pager", "x"), "core.pager")
    r_line, r_out = _pager(tmp_path, "from-repo")
    with open(os.path.join(hist, ".trace", "config"), "a") as f:
        f.write(f'[core]\n\tpager = "{r_line}"\n')
    p_out.unlink()
    code, screen = run_tty("-C", hist, "show", env=_env(PAGER=p_line))
    assert code == 0 and p_out.exists() and not r_out.exists()
    assert "warning: ignoring core.pager from" in screen, screen


# -- did you mean -------------------------------------------------------------------------------

def test_mistyped_command_did_you_mean(hist):
    p = invoke(hist, "stauts")
    assert_one_line_error(p, code=2)
    assert p.stderr == "error: 'stauts' is not a trace command. Did you mean 'status'?\n"
    assert_one_line_error(invoke_cli("comit"), "Did you mean 'commit'?", code=2)
    p = invoke_cli("xyzzy")
    assert p.stderr == "error: 'xyzzy' is not a trace command. See 'trace --help'.\n"
    assert p.returncode == 2
    assert_one_line_error(invoke_cli("help", "lgo"), "Did you mean 'log'?", code=2)
    # the fast path says the same without click
    for args in (["stauts"], ["-C", hist, "--agent", "x", "chekout", "y"]):
        a = run_cli(*args)
        b = run_cli(*args, env={"_TRACE_NO_FASTPATH": "1"})
        assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr) \
            == (2, "", a.stderr), args
        assert "Did you mean" in a.stderr


# -- -C of a missing directory ------------------------------------------------------------------

def test_dash_c_missing_directory(tmp_path, hist):
    missing = str(tmp_path / "nowhere")
    for args in (["status"], ["log"], ["trust"], ["commit", "x"]):
        p = invoke_cli("-C", missing, *args)
        assert_one_line_error(p, code=2)
        assert p.stderr == f"error: cannot change to '{missing}': No such file or directory\n"
    afile = tmp_path / "afile"
    afile.write_text("")
    assert_one_line_error(invoke_cli("-C", str(afile), "status"),
                          f"cannot change to '{afile}': Not a directory", code=2)
    a = run_cli("-C", missing, "status")                # the fast path
    assert (a.returncode, a.stderr) == (2, f"error: cannot change to '{missing}': No such "
                                            "file or directory\n")
    # an existing directory without a repository still says so; init still creates -C DIR
    assert_one_line_error(invoke_cli("-C", str(tmp_path), "status"), "not in a trace repository")
    invoke_cli("-C", str(tmp_path / "new"), "init", "-q", check=True)
    assert (tmp_path / "new" / ".trace").is_dir()


# -- config: unknown keys -----------------------------------------------------------------------

def test_config_warns_on_an_unknown_key_and_sets_it(hist, tmp_path):
    p = invoke(hist, "config", "budget.max-token", "5")
    assert p.returncode == 0 and p.stderr == ("warning: unknown config key 'budget.max-token'; "
                                              "did you mean 'budget.max-tokens'?\n")
    assert invoke(hist, "config", "budget.max-token", check=True).stdout == "5\n"  # set anyway
    p = invoke(hist, "config", "branch.feature.max-token", "9")
    assert "did you mean 'branch.feature.max-tokens'?" in p.stderr and p.returncode == 0
    p = invoke(hist, "config", "colour.ui", "always")
    assert "did you mean 'color.ui'?" in p.stderr
    p = invoke(hist, "config", "myext.setting", "on")
    assert p.stderr == "warning: unknown config key 'myext.setting'\n" and p.returncode == 0
    p = invoke(hist, "config", "budget.max-tokens", "5")             # known: silent
    assert p.returncode == 0 and p.stderr == ""
    # ordinary commands never warn about them; --list does, once per key
    p = invoke(hist, "status")
    assert p.returncode == 0 and "unknown config key" not in p.stderr
    p = invoke(hist, "config", "--list")
    assert p.stderr.count("warning: unknown config key") == 4, p.stderr
    assert "budget.max-token=5" in p.stdout
    # and the global file the same
    env = {"TRACE_CONFIG_GLOBAL": str(tmp_path / "g" / "config")}
    p = invoke_cli("config", "--global", "user.nmae", "me", env=env)
    assert p.returncode == 0 and "did you mean 'user.name'?" in p.stderr
    assert invoke_cli("config", "--global", "user.nmae", env=env).stdout == "me\n"


def test_unknown_key_message_unit():
    from trace_core.config import unknown_key_message

    assert unknown_key_message("budget.max-tokens") is None
    assert unknown_key_message("Branch.Main.Max-Tokens") is None
    assert unknown_key_message("price.gpt-4o.promt") == (
        "unknown config key 'price.gpt-4o.promt'; did you mean 'price.gpt-4o.prompt'?")
    assert unknown_key_message("zzz.qqq") == "unknown config key 'zzz.qqq'"


# -- help ---------------------------------------------------------------------------------------

def _sections(page: str) -> dict:
    """{section title: [command names]} of the top-level help page."""
    out: dict = {}
    title = None
    for line in page.splitlines():
        if line and not line.startswith(" ") and line.endswith(":") and line != "Options:":
            title = line[:-1]
            out[title] = []
        elif title and line.startswith("  ") and not line.startswith("   ") and \
                not line.startswith("  '"):
            out[title].append(line.split()[0])
    return {t: [n for n in names if not n.startswith("docs/")] for t, names in out.items()}


def test_top_level_help_is_grouped_and_lists_every_command():
    from trace_cli.registry import COMMANDS

    page = invoke_cli("--help", check=True).stdout
    secs = _sections(page)
    assert list(secs)[:2] == ["Start a repository", "Everyday work"]
    assert {"Branches and merging", "Context management", "Sub-agents", "Inspection",
            "Integrations", "Plumbing"} <= set(secs)
    assert "commit" in secs["Everyday work"] and "rev-parse" in secs["Plumbing"]
    assert "merge" in secs["Branches and merging"] and "spawn" in secs["Sub-agents"]
    listed = [n for names in secs.values() for n in names]
    assert sorted(listed) == sorted(COMMANDS)       # each once, none missing
    assert "  status            HEAD, branch, entries" in page
    assert invoke_cli("help", check=True).stdout == page
    assert invoke_cli("-h", check=True).stdout == page
    alone = invoke_cli()                            # `trace` alone: the same page (click: usage)
    assert alone.stderr == page and alone.returncode == 2
    assert invoke_cli("help", "log", check=True).stdout == \
        invoke_cli("log", "--help", check=True).stdout
    assert invoke_cli("help", "llm", "complete", check=True).stdout == \
        invoke_cli("llm", "complete", "--help", check=True).stdout


def test_a_command_added_later_is_never_missing_from_help(monkeypatch):
    """A command no GROUPS entry names (one another change registers) lands in "Other
    commands"; `mcp` already has its place."""
    from trace_cli import help, registry

    monkeypatch.setitem(registry.COMMANDS, "frobnicate", ("trace_cli.commands.web", "web"))
    monkeypatch.setitem(registry.SUMMARY, "frobnicate", "Frobnicate the context.")
    monkeypatch.setitem(registry.COMMANDS, "mcp", ("trace_cli.commands.web", "web"))
    monkeypatch.setitem(registry.SUMMARY, "mcp", "Serve MCP.")
    secs = _sections(help.root_help(78))
    assert secs[help.OTHER] == ["frobnicate"] and "mcp" in secs["Integrations"]
    assert sorted(n for names in secs.values() for n in names) == sorted(registry.COMMANDS)


def test_help_pages_take_the_fast_path_without_click():
    """`trace help`, `--help` and the grouped page print without importing click."""
    code = ("import sys, os\n"
            "os._exit = lambda c: (_ for _ in ()).throw(SystemExit(c))\n"
            "from trace_cli.main import main\n"
            "sys.argv = ['trace', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('IMPORTED %s' % [m for m in ('click', 'difflib', 'subprocess')"
            " if m in sys.modules])\n")
    for args in (["help"], ["--help"], ["help", "status"]):
        p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                           env=_env(), check=False)
        assert "Usage: trace" in p.stdout and p.stderr.endswith("IMPORTED []"), (args, p.stderr)


# -- completion ---------------------------------------------------------------------------------

def _complete(words: str, cwd=None, process=False, env=None) -> tuple[int, list, str]:
    """Completion as bash asks for it (click's bash_complete protocol): (status, [values],
    stderr)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    e = {"_TRACE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword),
         **(env or {})}
    p = run_cli(env=e, cwd=cwd) if process else invoke_cli(env=e, cwd=cwd)
    values = [ln.split(",", 1)[1] for ln in p.stdout.splitlines() if "," in ln]
    return p.returncode, values, p.stderr


@pytest.fixture
def agents_repo(hist):
    invoke(hist, "spawn", "worker", "critic", check=True)
    invoke(hist, "tag", "v1", check=True)
    return hist


def test_completion_of_commands_options_and_names(agents_repo):
    r = agents_repo
    assert _complete("trace st", cwd=r)[1] == ["status"]
    assert _complete("trace log --one", cwd=r)[1] == ["--oneline"]
    assert "--no-pager" in _complete("trace --no", cwd=r)[1]
    branches = ["feature", "main"]
    for words in ("trace switch ", "trace branch -d ", "trace merge ", "trace rebase ",
                  "trace checkout ", "trace diff ", "trace diff main ", "trace log ",
                  "trace show ", "trace graph ", "trace reset "):
        values = _complete(words, cwd=r)[1]
        want = branches if words.split()[1] in ("switch", "branch") else \
            ["HEAD", *branches, "v1"]
        assert values == want, (words, values)
    assert _complete("trace switch fe", cwd=r)[1] == ["feature"]
    assert _complete("trace log main..f", cwd=r)[1] == ["main..feature"]
    assert _complete("trace tag -d ", cwd=r)[1] == ["v1"]
    assert _complete("trace spawn x --from ", cwd=r)[1] == ["HEAD", *branches, "v1"]
    for words in ("trace --agent ", "trace collapse ", "trace abandon ", "trace status --agent "):
        assert _complete(words, cwd=r)[1] == ["critic", "worker"], words
    assert _complete("trace --agent w", cwd=r)[1] == ["worker"]
    # nested agents complete as paths for the global --agent; -C names the repository
    invoke_cli("-C", r, "--agent", "worker", "spawn", "helper", check=True)
    assert _complete(f"trace -C {r} --agent ", cwd="/")[1] == ["critic", "worker",
                                                                 "worker/helper"]
    assert _complete(f"trace -C {r} --agent worker collapse ", cwd="/")[1] == ["helper"]


def test_completion_in_real_processes_and_without_a_repository(agents_repo, tmp_path):
    code, values, err = _complete("trace switch ", cwd=agents_repo, process=True)
    assert (code, values, err) == (0, ["feature", "main"], "")
    code, values, err = _complete("trace --agent ", cwd=agents_repo, process=True)
    assert (code, values, err) == (0, ["critic", "worker"], "")
    # no repository, a missing -C, a damaged repository: no names, no error, no traceback
    broken = tmp_path / "broken"
    (broken / ".trace").mkdir(parents=True)
    (broken / ".trace" / "format").write_text("garbage")
    for words, cwd in (("trace switch ", str(tmp_path)), ("trace collapse ", str(tmp_path)),
                       (f"trace -C {tmp_path}/nowhere merge ", "/"),
                       ("trace log ", str(broken))):
        code, values, err = _complete(words, cwd=cwd, process=True)
        assert (code, values, err) == (0, [], ""), words
    for shell, mark in (("bash_source", "complete -o nosort -F"), ("zsh_source", "compdef"),
                        ("fish_source", "complete --no-files --command trace")):
        p = run_cli(env={"_TRACE_COMPLETE": shell})
        assert p.returncode == 0 and mark in p.stdout and "_TRACE_COMPLETE" in p.stdout, shell


# -- start-up -----------------------------------------------------------------------------------

def test_version_and_fast_commands_import_nothing_new(hist):
    """`--version` loads none of the new modules; a fast-path command on a pipe loads the
    pager module (a few lines) but never subprocess, difflib or click."""
    code = ("import sys, os\n"
            "os._exit = lambda c: (_ for _ in ()).throw(SystemExit(c))\n"
            "from trace_cli.main import main\n"
            "sys.argv = ['trace', *sys.argv[1:]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "mods = ('click', 'difflib', 'subprocess', 'trace_cli.pager', 'trace_cli.util', "
            "'trace_cli.completion')\n"
            "sys.stderr.write('IMPORTED %s' % [m for m in mods if m in sys.modules])\n")
    p = subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True,
                       text=True, env=_env(), check=False)
    assert p.stderr == "IMPORTED []", p.stderr
    p = subprocess.run([sys.executable, "-c", code, "-C", hist, "log", "--oneline"],
                       capture_output=True, text=True, env=_env(), check=False)
    assert p.stderr == "IMPORTED ['trace_cli.pager', 'trace_cli.util']", p.stderr
