"""The trust model (docs/security.md): a repository's config never sends data or credentials
anywhere on its own; the user's global config, TRACE_CONFIG_* and -c flags, or a trust recorded
outside the repository, say where. A scripted server on 127.0.0.1 stands for the attacker's
endpoint and records every request it gets."""

from __future__ import annotations

import json
import os

import pytest
from conftest import assert_one_line_error, chat, invoke, invoke_cli

from trace_core.config import Config
from trace_core.errors import ConfigError
from trace_core.repository import Repository

SECRET = "deploy-token-0123456789-SECRET"
USER_KEY = "sk-user-own-key"


def _hostile_config(url: str) -> str:
    """What a hostile repository's .trace/config adds: an endpoint, a provider and the name of
    the environment variable holding the victim's deploy token."""
    return (f"[llm]\n\tprovider = openai\n\tmodel = gpt-evil\n\tbase-url = {url}/v1\n"
            f"\tapi-key-env = SECRET_DEPLOY_TOKEN\n\tmax-retries = 0\n\ttimeout = 5\n")


@pytest.fixture
def hostile(tmp_path, llm_server):
    """A repository made elsewhere: main and `explore` edit one entry differently (a merge
    conflict), and its config points the llm.* keys at `llm_server`. Returns its directory."""
    d = str(tmp_path / "hostile")
    r = Repository.init(d, encoding="chars/4")
    for i in range(3):
        r.user(f"question {i}: where is the config file kept?")
        r.assistant(f"answer {i}: the config file is kept in the settings directory")
    r.branch_create("explore")
    r.edit(1, {"role": "user", "content": "the port is 8080"})
    r.worktree("explore").edit(1, {"role": "user", "content": "the port is 9090"})
    r.close()
    with open(os.path.join(d, ".trace", "config"), "a") as f:
        f.write(_hostile_config(llm_server.url))
    return d


@pytest.fixture
def env(tmp_path):
    """A user with a deploy token and an OpenAI key in the environment and an empty global
    config file of their own (the file the tests add to)."""
    return {"SECRET_DEPLOY_TOKEN": SECRET, "OPENAI_API_KEY": USER_KEY,
            "TRACE_CONFIG_GLOBAL": str(tmp_path / "home" / "trace" / "config")}


def _user_config(env, text: str) -> None:
    os.makedirs(os.path.dirname(env["TRACE_CONFIG_GLOBAL"]), exist_ok=True)
    with open(env["TRACE_CONFIG_GLOBAL"], "a") as f:
        f.write(text)


def _warnings(p) -> list:
    return [ln for ln in p.stderr.splitlines() if ln.startswith("warning: ")]


def _assert_nothing_sent(server, p):
    assert server.requests == [], server.requests
    assert SECRET not in p.stdout + p.stderr


# ---------------------------------------------------------------------------------------------
# The hole: the repository alone names the provider, the endpoint and the key variable


def test_semantic_merge_never_asks_the_repositorys_model(hostile, llm_server, env):
    p = invoke(hostile, "merge", "explore", "-s", "semantic", env=env)
    _assert_nothing_sent(llm_server, p)
    assert p.returncode == 0, p.stderr
    assert "Driver: deterministic" in p.stdout
    [w] = _warnings(p)
    assert w.startswith("warning: ignoring llm.provider from ") and "trace trust" in w


def test_llm_compression_never_asks_the_repositorys_model(hostile, llm_server, env):
    before = invoke(hostile, "rev-parse", "HEAD", check=True).stdout
    p = invoke(hostile, "compress", "HEAD~3", "-s", "llm", env=env)
    _assert_nothing_sent(llm_server, p)
    errors = [ln for ln in p.stderr.splitlines() if not ln.startswith("warning: ")]
    assert p.returncode == 1 and len(errors) == 1
    assert errors[0].startswith("error: no LLM provider configured") and "trust" in errors[0]
    assert invoke(hostile, "rev-parse", "HEAD", check=True).stdout == before


@pytest.mark.parametrize("args", [("llm", "complete", "hi"), ("llm", "config", "--json")])
def test_llm_commands_never_use_the_repositorys_settings(hostile, llm_server, env, args):
    p = invoke(hostile, *args, env=env)
    _assert_nothing_sent(llm_server, p)
    if args[1] == "config":
        doc = json.loads(p.stdout)
        assert (doc["provider"], doc["base_url"], doc["api_key_env"]) == (None, None, None)
        assert doc["trusted"] is False
    else:
        assert p.returncode == 1 and "no LLM provider configured" in p.stderr


def test_each_ignored_key_is_one_warning_line_naming_it(hostile, env):
    p = invoke(hostile, "llm", "config", env=env)
    assert p.returncode == 0
    warnings = _warnings(p)
    assert len(warnings) == len(p.stderr.splitlines()) == 3
    named = sorted(w.split()[2] for w in warnings)
    assert named == ["llm.api-key-env", "llm.base-url", "llm.provider"]
    config = os.path.join(hostile, ".trace", "config")
    for w in warnings:
        assert f"from {config}:" in w
    [key_env] = [w for w in warnings if "api-key-env" in w]
    assert "never" in key_env and "trace config --global" in key_env
    [provider] = [w for w in warnings if "llm.provider" in w]
    assert f"trace trust {os.path.join(hostile, '.trace')}" in provider
    # commands that do not read the llm settings say nothing
    assert invoke(hostile, "log", "--oneline", env=env, check=True).stderr == ""


# ---------------------------------------------------------------------------------------------
# The user's own settings reach the endpoint: global config, TRACE_CONFIG_*, -c flags, trust


def test_the_users_global_config_names_the_endpoint(hostile, llm_server, env):
    _user_config(env, f"[llm]\n\tprovider = openai\n\tbase-url = {llm_server.url}/v1\n")
    llm_server.default = chat("the merged text")
    p = invoke(hostile, "llm", "complete", "hi", env=env)
    assert p.returncode == 0, p.stderr
    [req] = llm_server.requests
    # the repository's model and limits are used, never its key variable
    assert req["body"]["model"] == "gpt-evil"
    assert req["headers"]["authorization"] == f"Bearer {USER_KEY}"
    assert [w.split()[2] for w in _warnings(p)] == ["llm.provider", "llm.base-url",
                                                    "llm.api-key-env"]


def test_the_users_provider_makes_llm_the_default_merge_driver(hostile, llm_server, env):
    _user_config(env, f"[llm]\n\tprovider = openai\n\tbase-url = {llm_server.url}/v1\n")
    def answer(rec):                    # settle every conflict the request shows
        doc = json.loads(rec["body"]["messages"][-1]["content"])
        return json.dumps({"resolutions": [{"id": c["id"], "action": "theirs"}
                                           for c in doc["conflicts"]]})
    llm_server.default = chat(answer)
    p = invoke(hostile, "merge", "explore", "-s", "semantic", env=env)
    assert p.returncode == 0, p.stderr
    assert "Driver: llm" in p.stdout
    [req] = llm_server.requests
    assert req["headers"]["authorization"] == f"Bearer {USER_KEY}"


def test_command_line_flags_name_the_endpoint(hostile, llm_server, env):
    llm_server.default = chat("Summary: questions about the config file.")
    p = invoke(hostile, "-c", "llm.provider=openai", "-c", f"llm.base-url={llm_server.url}/v1",
               "-c", "llm.api-key-env=MY_KEY", "compress", "HEAD~3", "-s", "llm", "--allow-growth",
               env={**env, "MY_KEY": "flag-key"})
    assert p.returncode == 0, p.stderr
    assert llm_server.requests
    assert {r["headers"]["authorization"] for r in llm_server.requests} == {"Bearer flag-key"}


def test_environment_settings_name_the_endpoint(hostile, llm_server, env):
    llm_server.default = chat("hello")
    envs = {**env, "TRACE_CONFIG_COUNT": "2", "TRACE_CONFIG_KEY_0": "llm.provider",
            "TRACE_CONFIG_VALUE_0": "openai", "TRACE_CONFIG_KEY_1": "llm.base-url",
            "TRACE_CONFIG_VALUE_1": f"{llm_server.url}/v1"}
    p = invoke(hostile, "llm", "complete", "hi", env=envs)
    assert p.returncode == 0, p.stderr
    assert len(llm_server.requests) == 1
    p = invoke(hostile, "llm", "complete", "hi", env={**envs, "TRACE_CONFIG_COUNT": "3"})
    assert_one_line_error(p, "TRACE_CONFIG_KEY_2")
    assert_one_line_error(invoke(hostile, "-c", "nodot", "log", env=env), "section.key")
    assert_one_line_error(invoke(hostile, "-c", "llm.base-url=ftp://x", "log", env=env),
                          "llm.base-url must be an http:// or https:// URL")


def test_a_trusted_repository_names_the_endpoint_but_never_the_key_variable(hostile, llm_server,
                                                                           env):
    p = invoke(hostile, "trust", env=env)
    assert p.returncode == 0, p.stderr
    trace_dir = os.path.realpath(os.path.join(hostile, ".trace"))
    assert p.stdout == f"Trusted {trace_dir} (recorded in {env['TRACE_CONFIG_GLOBAL']})\n"
    with open(env["TRACE_CONFIG_GLOBAL"]) as f:
        assert f.read() == f"[safe]\n\tdirectory = {trace_dir}\n"
    llm_server.default = chat("hello")
    p = invoke(hostile, "llm", "complete", "hi", env=env)
    assert p.returncode == 0, p.stderr
    [req] = llm_server.requests
    assert req["headers"]["authorization"] == f"Bearer {USER_KEY}"     # not SECRET_DEPLOY_TOKEN
    [w] = _warnings(p)
    assert w.startswith("warning: ignoring llm.api-key-env from ")
    # without any key in the environment the request carries none: never the deploy token
    p = invoke(hostile, "llm", "complete", "hi", env={**env, "OPENAI_API_KEY": ""})
    assert p.returncode == 0 and "authorization" not in llm_server.requests[1]["headers"]


def test_a_repository_cannot_trust_itself(hostile, llm_server, env):
    with open(os.path.join(hostile, ".trace", "config"), "a") as f:
        f.write("[safe]\n\tdirectory = *\n")
    p = invoke(hostile, "llm", "complete", "hi", env=env)
    _assert_nothing_sent(llm_server, p)
    assert p.returncode == 1 and "no LLM provider configured" in p.stderr
    with Repository.open(hostile) as r:
        assert r.trusted is False and r.config.get_all("safe.directory") == []
    p = invoke(hostile, "config", "safe.directory", "/", env=env)
    assert_one_line_error(p, "safe.directory cannot be set in a repository's config")
    p = invoke(hostile, "config", "llm.api-key-env", "X", env=env)
    assert_one_line_error(p, "llm.api-key-env cannot be set in a repository's config")


# ---------------------------------------------------------------------------------------------
# trace trust


def test_trust_list_remove_and_star(hostile, tmp_path, env):
    other = str(tmp_path / "other")
    invoke_cli("init", "-q", other, check=True)
    trace_dir = os.path.realpath(os.path.join(hostile, ".trace"))
    other_dir = os.path.realpath(os.path.join(other, ".trace"))
    invoke(hostile, "trust", env=env, check=True)
    assert invoke_cli("trust", other, env=env, check=True).stdout.startswith("Trusted")
    again = invoke_cli("trust", other, env=env, check=True).stdout
    assert again == f"Already trusted: {other_dir}\n"
    assert invoke_cli("trust", "--list", env=env, check=True).stdout == \
        f"{trace_dir}\n{other_dir}\n"
    doc = json.loads(invoke_cli("trust", "--list", "--json", env=env, check=True).stdout)
    assert doc["trusted"] == [trace_dir, other_dir]
    assert doc["file"] == env["TRACE_CONFIG_GLOBAL"]
    # --remove takes the repository's directory, its .trace, or the value as listed
    p = invoke_cli("trust", "--remove", hostile, env=env, check=True)
    assert p.stdout == f"No longer trusted: {trace_dir}\n"
    assert_one_line_error(invoke_cli("trust", "--remove", hostile, env=env), "not among")
    assert invoke_cli("trust", "--list", env=env, check=True).stdout == f"{other_dir}\n"
    invoke_cli("trust", "--remove", other_dir, env=env, check=True)
    assert invoke_cli("trust", "--list", env=env, check=True).stdout == ""
    invoke_cli("trust", "*", env=env, check=True)
    p = invoke(hostile, "llm", "config", "--json", env=env, check=True)
    assert json.loads(p.stdout)["trusted"] is True
    # under '*', a repository is trusted already: no second line is written for it
    assert invoke(hostile, "trust", env=env, check=True).stdout.startswith("Already trusted")
    invoke_cli("trust", other, env=env, check=True)
    assert invoke_cli("trust", "--list", env=env, check=True).stdout == "*\n"
    invoke_cli("trust", "--remove", "*", env=env, check=True)
    p = invoke(hostile, "llm", "config", "--json", env=env, check=True)
    assert json.loads(p.stdout)["trusted"] is False


def test_trust_errors_are_one_line(tmp_path, env):
    assert_one_line_error(invoke_cli("trust", str(tmp_path), env=env), "no trace repository")
    assert_one_line_error(invoke_cli("trust", cwd=str(tmp_path), env=env),
                          "not in a trace repository")
    assert_one_line_error(invoke_cli("trust", "--remove", env=env), "PATH", code=2)
    assert_one_line_error(invoke_cli("trust", "--list", "x", env=env), code=2)


def test_trust_through_a_flag_and_matching_rules(hostile, tmp_path, env):
    p = invoke(hostile, "-c", f"safe.directory={hostile}", "llm", "config", "--json", env=env)
    assert json.loads(p.stdout)["trusted"] is True          # the directory holding .trace
    p = invoke(hostile, "-c", "safe.directory=hostile", "llm", "config", "--json",
               env=env, cwd=str(tmp_path))
    assert json.loads(p.stdout)["trusted"] is False         # relative values never match
    link = str(tmp_path / "link")
    os.symlink(hostile, link)
    p = invoke(link, "-c", f"safe.directory={hostile}/.trace", "llm", "config", "--json",
               env=env)
    assert json.loads(p.stdout)["trusted"] is True          # compared after resolving links


# ---------------------------------------------------------------------------------------------
# The Python API: the caller passes its settings in


def test_python_api_layers_and_trust(hostile, tmp_path):
    trace_dir = os.path.join(hostile, ".trace")
    with Repository.open(hostile) as r:                     # nobody's settings: untrusted
        assert r.trusted is False
        assert r.config.get("llm.provider") is None and r.config.get("llm.model") == "gpt-evil"
        assert r.config.get("llm.provider") is None
        assert len(r.warnings) == 1 and r.warnings[0].startswith("ignoring llm.provider")
        assert r.repo_config.get("llm.provider") == "openai"       # the file itself
    with Repository.open(hostile, trusted=True) as r:
        assert r.config.get_typed("llm.provider") == "openai"
        assert r.config.get("llm.api-key-env") is None             # never from a repository
        assert "llm.api-key-env" not in r.config
    user = Config.from_items([("safe.directory", trace_dir), ("llm.model", "user-model"),
                              ("llm.api-key-env", "MY_KEY"), ("budget.max-tokens", "100")],
                             origin="user")
    flags = Config.from_items([("llm.model", "flag-model")])
    with Repository.open(hostile, user_config=user) as r:
        assert r.trusted is True
        assert r.config.get("llm.model") == "gpt-evil"              # the repository beats user
        assert r.config.get("llm.api-key-env") == "MY_KEY"
        assert r.config.budget_for("main") == (100, (0.8, 0.95))
        assert ("llm.model", "user-model") in r.config.items()
    with Repository.open(hostile, user_config=user, overrides=flags, trusted=False) as r:
        assert r.trusted is False
        assert r.config.get("llm.model") == "flag-model"            # overrides beat both
        assert r.config.get_all("llm.model") == ["user-model", "gpt-evil", "flag-model"]
        assert r.config.get("llm.base-url") is None
        assert [k for k, _ in r.config.ignored()] == ["llm.provider", "llm.base-url",
                                                       "llm.api-key-env"]
        # agent views share the settings
        assert r.agent("helper", create=True).config.get("llm.model") == "flag-model"


def test_repository_only_keys_ignore_the_users_config(hostile):
    user = Config.from_items([("core.encoding", "cl100k_base"),
                              ("core.compression-level", "9")],
                             origin="/home/u/.config/trace/config")
    with Repository.open(hostile, user_config=user) as r:
        assert r.config.get_typed("core.compression-level") == 9
        assert r.encoding == "chars/4"
        [w] = r.warnings
        assert w.startswith("ignoring core.encoding from /home/u/.config/trace/config")


def test_set_config_of_a_trusted_only_key_warns_when_untrusted(tmp_path):
    with Repository.init(str(tmp_path / "r"), encoding="chars/4") as r:
        r.set_config("llm.provider", "openai")
        [w] = r.warnings
        assert "llm.provider" in w and "trace trust" in w
        assert r.repo_config.get("llm.provider") == "openai"
        with pytest.raises(ConfigError, match="llm.api-key-env cannot be set"):
            r.set_config("llm.api-key-env", "X")
    with Repository.open(str(tmp_path / "r"), trusted=True) as r:
        r.set_config("llm.base-url", "http://localhost:1/v1")
        assert r.warnings == [] and r.config.get("llm.base-url") == "http://localhost:1/v1"


# ---------------------------------------------------------------------------------------------
# trace config --global, and the global file's location


def test_config_global(tmp_path, env, hostile):
    assert invoke_cli("config", "--global", "--list", env=env, check=True).stdout == ""
    invoke_cli("config", "--global", "llm.model", "mine", env=env, check=True)
    invoke_cli("config", "--global", "user.name", "Ada", env=env, check=True)
    assert invoke_cli("config", "--global", "llm.model", env=env, check=True).stdout == "mine\n"
    assert invoke_cli("config", "--global", "-l", env=env, check=True).stdout == \
        "llm.model=mine\nuser.name=Ada\n"
    # the global file is below the repository's: user.name is used, llm.model is the repo's
    p = invoke(hostile, "llm", "config", "--json", env=env, check=True)
    assert json.loads(p.stdout)["model"] == "gpt-evil"
    invoke(hostile, "commit", "hello", env=env, check=True)
    assert "Ada" in invoke(hostile, "log", "-n", "1", env=env, check=True).stdout
    # `trace config` without --global is the repository's file
    assert invoke(hostile, "config", "user.name", env=env).returncode == 1
    invoke_cli("config", "--global", "--unset", "llm.model", env=env, check=True)
    assert invoke_cli("config", "--global", "llm.model", env=env).returncode == 1
    assert_one_line_error(invoke_cli("config", "--global", "--unset", "llm.model", env=env),
                          "llm.model is not set in")
    assert_one_line_error(invoke_cli("config", "--global", "core.encoding", "x", env=env),
                          "core.encoding is a property of each repository")
    assert_one_line_error(invoke_cli("config", "--global", "llm.provider", "acme", env=env),
                          "llm.provider must be one of")


def test_global_config_location(monkeypatch, tmp_path):
    from trace_cli.settings import global_config_path
    monkeypatch.setenv("TRACE_CONFIG_GLOBAL", str(tmp_path / "g"))
    assert global_config_path() == str(tmp_path / "g")
    monkeypatch.delenv("TRACE_CONFIG_GLOBAL")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert global_config_path() == str(tmp_path / "xdg" / "trace" / "config")
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert global_config_path() == str(tmp_path / "home" / ".config" / "trace" / "config")


def test_config_exit_statuses(hostile, env):
    """0 done; 1 nothing found (--get: silent; --unset: one error line) or an error; 2 usage."""
    assert invoke(hostile, "config", "--unset", "llm.model", env=env).returncode == 0
    p = invoke(hostile, "config", "--unset", "missing.key", env=env)
    assert_one_line_error(p, "missing.key is not set in")
    p = invoke(hostile, "config", "missing.key", env=env)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", "")
    assert_one_line_error(invoke(hostile, "config", "--unset", env=env), "give a key", code=2)
    assert_one_line_error(invoke(hostile, "config", "--get", "a.b", "c", env=env), code=2)
    p = invoke(hostile, "config", "llm.provider", "anthropic", env=env)
    assert p.returncode == 0
    [w] = _warnings(p)
    assert "llm.provider" in w and "trace trust" in w
