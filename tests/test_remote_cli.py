"""`trace remote`, `clone`, `fetch`, `push`, `pull` and `gc --remote` as users run them: real
processes, git's output and exit statuses, the S3 settings from the AWS_* environment, and no
secret in any output."""

from __future__ import annotations

import json
import os

from conftest import run_cli


def _env(tmp_path, extra=None) -> dict:
    env = {"TRACE_CONFIG_GLOBAL": str(tmp_path / "global-config")}
    for name in list(os.environ):
        if name.startswith("AWS_"):
            env[name] = ""
    env.update(extra or {})
    return env


def _trace(tmp_path, *args, env=None, cwd=None):
    return run_cli(*args, env=_env(tmp_path, env), cwd=cwd)


def _init(tmp_path, name: str, *messages: str) -> str:
    d = str(tmp_path / name)
    assert _trace(tmp_path, "init", "-q", "--encoding", "chars/4", d).returncode == 0
    assert _trace(tmp_path, "trust", d).returncode == 0
    for i, m in enumerate(messages):
        role = "user" if i % 2 == 0 else "assistant"
        assert _trace(tmp_path, "-C", d, "commit", "-m", role, m).returncode == 0
    return d


def test_remote_add_list_remove(tmp_path):
    a = _init(tmp_path, "a", "hello")
    r = _trace(tmp_path, "remote", "add", "origin", "../shared", cwd=a)   # stored absolute
    assert r.returncode == 0, r.stderr
    assert _trace(tmp_path, "-C", a, "remote").stdout == "origin\n"
    shared = os.path.abspath(os.path.join(a, "..", "shared"))
    v = _trace(tmp_path, "-C", a, "remote", "-v").stdout
    assert v == f"origin\t{shared} (fetch)\norigin\t{shared} (push)\n"
    assert json.loads(_trace(tmp_path, "-C", a, "remote", "--json").stdout) == [
        {"name": "origin", "url": shared}]
    bad = _trace(tmp_path, "-C", a, "remote", "add", "x", "http://example.com/r")
    assert bad.returncode == 1 and bad.stderr.startswith("error: unsupported remote URL")
    assert _trace(tmp_path, "-C", a, "remote", "add", "origin", "/x").returncode == 1
    assert _trace(tmp_path, "-C", a, "remote", "frob").returncode == 2
    assert _trace(tmp_path, "-C", a, "remote", "remove", "origin").returncode == 0
    assert _trace(tmp_path, "-C", a, "remote").stdout == ""
    gone = _trace(tmp_path, "-C", a, "remote", "remove", "origin")
    assert gone.returncode == 1 and "no remote named origin" in gone.stderr


def test_push_clone_pull_round_trip(tmp_path):
    a = _init(tmp_path, "a", "plan the offsite", "Lisbon, in May")
    _trace(tmp_path, "-C", a, "remote", "add", "origin", str(tmp_path / "shared"))
    p = _trace(tmp_path, "-C", a, "push")
    assert p.returncode == 0, p.stderr
    assert " * [new branch]      main -> main" in p.stderr and p.stderr.startswith("To ")
    c = _trace(tmp_path, "clone", str(tmp_path / "shared"), str(tmp_path / "b"))
    assert c.returncode == 0, c.stderr
    assert "Cloned" in c.stdout and "Trusted" in c.stdout
    b = str(tmp_path / "b")
    assert _trace(tmp_path, "-C", b, "branch", "-r").stdout.split()[0] == "origin/main"
    assert "(HEAD -> main, origin/main)" in _trace(tmp_path, "-C", b, "log", "-n", "1").stdout
    _trace(tmp_path, "-C", b, "commit", "-m", "user", "budget under 5000 EUR")
    assert _trace(tmp_path, "-C", b, "push").returncode == 0
    # a is behind: its push is refused with git's hint, exit 1
    _trace(tmp_path, "-C", a, "commit", "-m", "user", "and a venue with a garden")
    refused = _trace(tmp_path, "-C", a, "push")
    assert refused.returncode == 1
    assert "! [rejected]        main -> main (fetch first)" in refused.stderr
    assert "error: failed to push some refs to" in refused.stderr and "hint:" in refused.stderr
    pulled = _trace(tmp_path, "-C", a, "pull")
    assert pulled.returncode == 0, pulled.stderr
    assert "main -> origin/main" in pulled.stderr and "[merged" in pulled.stdout
    assert _trace(tmp_path, "-C", a, "push").returncode == 0
    f = _trace(tmp_path, "-C", b, "fetch", "--json")
    assert json.loads(f.stdout)["updates"][0]["status"] == "fast-forward"
    assert _trace(tmp_path, "-C", b, "pull").returncode == 0          # a fast-forward
    _trace(tmp_path, "-C", b, "commit", "-m", "user", "b again")
    dry = _trace(tmp_path, "-C", b, "push", "--dry-run")
    assert dry.returncode == 0 and "dry run" in dry.stderr
    assert _trace(tmp_path, "-C", b, "push").returncode == 0
    # forced and leased pushes
    _trace(tmp_path, "-C", b, "reset", "--hard", "HEAD~1")
    assert _trace(tmp_path, "-C", b, "push").returncode == 1
    stale = _trace(tmp_path, "-C", b, "push", "--force-with-lease=main:HEAD")
    assert stale.returncode == 1 and "(stale info)" in stale.stderr
    forced = _trace(tmp_path, "-C", b, "push", "--force-with-lease")
    assert forced.returncode == 0 and "(forced update)" in forced.stderr
    # the remote's gc
    gc = _trace(tmp_path, "-C", a, "gc", "--remote", "origin", "--expire", "now", "--json")
    assert gc.returncode == 0, gc.stderr
    assert json.loads(gc.stdout)["written"]
    assert _trace(tmp_path, "-C", a, "gc", "--expire", "1.day").returncode == 2


def test_clone_errors_leave_nothing(tmp_path):
    r = _trace(tmp_path, "clone", str(tmp_path / "nothing-here"), str(tmp_path / "x"))
    assert r.returncode == 1 and r.stderr.startswith("error: no trace remote at")
    assert "Traceback" not in r.stderr and not (tmp_path / "x").exists()
    r = _trace(tmp_path, "clone", "s3://Bad_Bucket/x", str(tmp_path / "y"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "bucket" in r.stderr
    assert not (tmp_path / "y").exists()


def test_s3_from_the_environment_and_no_secret_in_output(tmp_path, s3server, s3_env):
    a = _init(tmp_path, "a", "what the context holds")
    url = f"s3://{s3server.new_bucket()}/proj"
    _trace(tmp_path, "-C", a, "remote", "add", "origin", url)
    p = _trace(tmp_path, "-C", a, "push", env=s3_env)
    assert p.returncode == 0, p.stderr
    c = _trace(tmp_path, "clone", url, str(tmp_path / "b"), env=s3_env)
    assert c.returncode == 0, c.stderr
    log = _trace(tmp_path, "-C", str(tmp_path / "b"), "log", "--json")
    assert "what the context holds" in _trace(tmp_path, "-C", str(tmp_path / "b"),
                                              "context").stdout, log.stdout
    # wrong secret: one line, no secret in it
    wrong = dict(s3_env, AWS_SECRET_ACCESS_KEY="not-the-secret-9b1e")
    for args in (("-C", a, "push"), ("-C", a, "fetch"), ("clone", url, str(tmp_path / "z"))):
        r = _trace(tmp_path, *args, env=wrong)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
        for secret in ("not-the-secret-9b1e", s3server.secret_key):
            assert secret not in r.stderr + r.stdout
    # the endpoint and credentials come from the user's config too, never the repository's
    _trace(tmp_path, "config", "--global", "s3.endpoint", s3server.endpoint)
    for k, v in (("s3.access-key-id", s3server.access_key),
                 ("s3.secret-access-key", s3server.secret_key), ("s3.allow-http", "true"),
                 ("s3.region", s3server.region)):
        assert _trace(tmp_path, "config", "--global", k, v).returncode == 0
    assert _trace(tmp_path, "-C", a, "fetch").returncode == 0
    refused = _trace(tmp_path, "-C", a, "config", "s3.endpoint", "http://127.0.0.1:9")
    assert refused.returncode == 1 and "cannot be set in a repository" in refused.stderr
