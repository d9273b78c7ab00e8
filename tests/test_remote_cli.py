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


# -- review mends: each test fails without its fix --------------------------------------------
def _rev(tmp_path, d, rev, agent=None):
    args = (("--agent", agent) if agent else ()) + ("-C", d, "rev-parse", rev)
    r = _trace(tmp_path, *args)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _remote_refs(remote_dir) -> dict:
    with open(os.path.join(str(remote_dir), "refs"), encoding="utf-8") as f:
        return json.load(f)["refs"]


def _contents(tmp_path, d, agent=None) -> list:
    args = (("--agent", agent) if agent else ()) + ("-C", d, "context", "--format", "json")
    r = _trace(tmp_path, *args)
    assert r.returncode == 0, r.stderr
    return [e["message"]["content"] for e in json.loads(r.stdout)]


def _nested(d) -> list:
    """Every `agents/kid/agents/kid` under d's .trace (a bug made one: a view opened at agent
    kid took itself for the top namespace)."""
    return [os.path.join(dp, n) for dp, dns, _ in os.walk(os.path.join(d, ".trace"))
            for n in dns if n == "agents" and os.path.basename(dp) == "kid"]


def _tree(d) -> dict:
    out = {}
    for dp, _, files in os.walk(d):
        for n in files:
            p = os.path.join(dp, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = f.read()
    return out


def test_agent_push_fetch_pull_work_in_the_agents_namespace(tmp_path):
    a = _init(tmp_path, "a", "hello")
    assert _trace(tmp_path, "-C", a, "spawn", "kid", "-m", "a task").returncode == 0
    _trace(tmp_path, "--agent", "kid", "-C", a, "commit", "--role", "assistant", "found it")
    _trace(tmp_path, "-C", a, "commit", "root only")      # the top namespace's own history
    shared = tmp_path / "shared"
    _trace(tmp_path, "-C", a, "remote", "add", "origin", str(shared))
    assert _trace(tmp_path, "-C", a, "push", "--agents").returncode == 0
    b, c = str(tmp_path / "b"), str(tmp_path / "c")
    for d in (b, c):
        assert _trace(tmp_path, "clone", str(shared), d).returncode == 0
    root_tip = _remote_refs(shared)["refs/heads/main"]
    # b: push kid's new work from kid's namespace
    _trace(tmp_path, "--agent", "kid", "-C", b, "commit", "--role", "assistant", "b's work")
    kid_b = _rev(tmp_path, b, "HEAD", agent="kid")
    p = _trace(tmp_path, "--agent", "kid", "-C", b, "push")
    assert p.returncode == 0, p.stderr
    assert _nested(b) == [], _nested(b)
    assert "agents/kid/main -> agents/kid/main" in p.stderr, p.stderr
    refs = _remote_refs(shared)
    assert refs["agents/kid/refs/heads/main"] == kid_b
    assert refs["refs/heads/main"] == root_tip                  # the root's branch untouched
    assert not [k for k in refs if k.startswith("agents/kid/agents/")]
    assert _rev(tmp_path, b, "origin/main", agent="kid") == kid_b
    assert _rev(tmp_path, b, "origin/main") == root_tip
    # c: kid's own work, then fetch in kid's namespace
    _trace(tmp_path, "--agent", "kid", "-C", c, "commit", "--role", "assistant", "c's work")
    f = _trace(tmp_path, "--agent", "kid", "-C", c, "fetch")
    assert _nested(c) == [], _nested(c)
    assert f.returncode == 0, f.stderr
    assert _rev(tmp_path, c, "origin/main", agent="kid") == kid_b
    assert _rev(tmp_path, c, "origin/main") == root_tip
    assert _trace(tmp_path, "--agent", "kid", "-C", c, "branch", "-r").stdout.split()[0] == \
        "origin/main"
    # pull merges the remote kid's work into kid, not the root's history
    pl = _trace(tmp_path, "--agent", "kid", "-C", c, "pull")
    assert pl.returncode == 0, pl.stderr + pl.stdout
    kid = _contents(tmp_path, c, agent="kid")
    assert {"found it", "b's work", "c's work"} <= set(kid)
    assert "root only" not in kid
    assert _contents(tmp_path, c) == _contents(tmp_path, a)     # the root did not move
    assert _trace(tmp_path, "--agent", "kid", "-C", c, "push").returncode == 0
    assert _remote_refs(shared)["refs/heads/main"] == root_tip
    for d in (a, b, c):
        assert _nested(d) == [], _nested(d)


def test_a_clone_shows_sub_agents_as_they_are(tmp_path):
    a = _init(tmp_path, "a", "hello")
    _trace(tmp_path, "-C", a, "spawn", "kid", "-m", "a task")
    _trace(tmp_path, "--agent", "kid", "-C", a, "commit", "--role", "assistant", "found it")
    assert _trace(tmp_path, "-C", a, "collapse", "kid", "-s", "final").returncode == 0
    _trace(tmp_path, "-C", a, "remote", "add", "origin", str(tmp_path / "shared"))
    assert _trace(tmp_path, "-C", a, "push", "--agents").returncode == 0
    b = str(tmp_path / "b")
    assert _trace(tmp_path, "clone", str(tmp_path / "shared"), b).returncode == 0
    rows = json.loads(_trace(tmp_path, "-C", b, "agents", "--json").stdout)
    assert [(r["path"], r["status"]) for r in rows] == [("kid", "collapsed")]
    shown = _trace(tmp_path, "-C", b, "agents").stdout
    assert "collapsed" in shown and "running" not in shown and "not spawned" not in shown


def test_a_bare_force_with_lease_takes_no_word(tmp_path):
    a = _init(tmp_path, "a", "hello")
    _trace(tmp_path, "-C", a, "remote", "add", "origin", str(tmp_path / "origin"))
    _trace(tmp_path, "-C", a, "remote", "add", "backup", str(tmp_path / "backup"))
    assert _trace(tmp_path, "-C", a, "push").returncode == 0
    before = _remote_refs(tmp_path / "origin")
    p = _trace(tmp_path, "-C", a, "push", "--force-with-lease", "backup")
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith(f"To {tmp_path / 'backup'}\n"), p.stderr
    assert _remote_refs(tmp_path / "backup")["refs/heads/main"] == _rev(tmp_path, a, "HEAD")
    assert _remote_refs(tmp_path / "origin") == before
    # `=REF:VALUE` still parses, and goes to the remote named after it
    _trace(tmp_path, "-C", a, "commit", "again")
    stale = _trace(tmp_path, "-C", a, "push", "--force-with-lease=main:HEAD", "backup")
    assert stale.returncode == 1 and "(stale info)" in stale.stderr, stale.stderr
    ok = _trace(tmp_path, "-C", a, "push", "--force-with-lease=main:HEAD~1", "backup")
    assert ok.returncode == 0, ok.stderr
    assert _remote_refs(tmp_path / "backup")["refs/heads/main"] == _rev(tmp_path, a, "HEAD")
    assert _remote_refs(tmp_path / "origin") == before


def test_pull_from_a_url_fails_before_downloading(tmp_path):
    a = _init(tmp_path, "a", "hello", "there")
    _trace(tmp_path, "-C", a, "remote", "add", "origin", str(tmp_path / "shared"))
    assert _trace(tmp_path, "-C", a, "push").returncode == 0
    b = _init(tmp_path, "b", "another history")
    packs = os.path.join(b, ".trace", "objects", "pack")
    before = sorted(os.listdir(packs))
    for url in (str(tmp_path / "shared"), "file://" + str(tmp_path / "shared")):
        r = _trace(tmp_path, "-C", b, "pull", url)
        assert r.returncode == 1, r.stderr
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
        assert "From " not in r.stderr and "Traceback" not in r.stderr
        assert sorted(os.listdir(packs)) == before
        assert _trace(tmp_path, "-C", b, "branch", "-r").stdout == ""
        assert not [f for _, _, fs in os.walk(os.path.join(b, ".trace", "refs", "remotes"))
                    for f in fs]
    assert _contents(tmp_path, b) == ["another history"]


def test_push_to_a_trace_repository_is_refused(tmp_path):
    a = _init(tmp_path, "a", "hello")
    other = _init(tmp_path, "other", "its own history")
    before = _tree(other)
    for url in (other, os.path.join(other, ".trace"), "file://" + other):
        r = _trace(tmp_path, "-C", a, "push", url)
        assert r.returncode == 1, r.stderr
        assert r.stderr.count("\n") == 1 and "is a trace repository" in r.stderr, r.stderr
        assert _tree(other) == before


def test_relative_urls_are_taken_from_the_C_directory(tmp_path):
    a = _init(tmp_path, "a", "hello")
    elsewhere = tmp_path / "x" / "y"
    elsewhere.mkdir(parents=True)
    r = _trace(tmp_path, "-C", a, "remote", "add", "x", "../rel", cwd=str(elsewhere))
    assert r.returncode == 0, r.stderr
    assert json.loads(_trace(tmp_path, "-C", a, "remote", "--json").stdout) == [
        {"name": "x", "url": os.path.normpath(os.path.join(a, "..", "rel"))}]
    p = _trace(tmp_path, "-C", a, "push", "../other", cwd=str(elsewhere))
    assert p.returncode == 0, p.stderr
    assert _remote_refs(tmp_path / "other")["refs/heads/main"] == _rev(tmp_path, a, "HEAD")
    assert not (tmp_path / "x" / "other").exists() and not (tmp_path / "x" / "rel").exists()


def test_a_fetch_that_would_clobber_a_tag_is_refused_and_pull_merges_nothing(tmp_path):
    a = _init(tmp_path, "a", "hello")
    _trace(tmp_path, "-C", a, "tag", "v1")
    _trace(tmp_path, "-C", a, "remote", "add", "origin", str(tmp_path / "shared"))
    assert _trace(tmp_path, "-C", a, "push", "--tags", "origin", "main").returncode == 0
    b, c = str(tmp_path / "b"), str(tmp_path / "c")
    for d in (b, c):
        assert _trace(tmp_path, "clone", str(tmp_path / "shared"), d).returncode == 0
    old_tag = _rev(tmp_path, c, "v1")
    # b moves v1 (and main) on the remote with a forced push
    _trace(tmp_path, "-C", b, "commit", "more")
    assert _trace(tmp_path, "-C", b, "tag", "-f", "v1").returncode == 0
    assert _trace(tmp_path, "-C", b, "push", "-f", "--tags", "origin", "main").returncode == 0
    new_tag = _rev(tmp_path, b, "v1")
    assert new_tag != old_tag
    main_c = _rev(tmp_path, c, "main")
    f = _trace(tmp_path, "-C", c, "fetch")
    assert f.returncode == 1, f.stderr
    assert "! [rejected]" in f.stderr and "(would clobber existing tag)" in f.stderr, f.stderr
    assert _rev(tmp_path, c, "v1") == old_tag
    pl = _trace(tmp_path, "-C", c, "pull")
    assert pl.returncode == 1, pl.stderr + pl.stdout
    assert pl.stderr.startswith("error: ") and "nothing merged" in pl.stderr, pl.stderr
    assert _rev(tmp_path, c, "main") == main_c and _contents(tmp_path, c) == ["hello"]
    forced = _trace(tmp_path, "-C", c, "fetch", "--force")
    assert forced.returncode == 0, forced.stderr
    assert _rev(tmp_path, c, "v1") == new_tag
    assert _trace(tmp_path, "-C", c, "pull").returncode == 0
    assert _contents(tmp_path, c) == ["hello", "more"]


def test_gc_remote_takes_no_local_options_and_its_dry_run_deletes_nothing(tmp_path):
    a = _init(tmp_path, "a", "hello")
    shared = tmp_path / "shared"
    _trace(tmp_path, "-C", a, "remote", "add", "origin", str(shared))
    for m in ("one", "two", "three"):
        _trace(tmp_path, "-C", a, "commit", m)
        assert _trace(tmp_path, "-C", a, "push").returncode == 0
    before = sorted(os.listdir(shared / "packs"))
    assert len(before) >= 6
    for opts in (("--prune", "now"), ("--aggressive",), ("--no-retention",)):
        r = _trace(tmp_path, "-C", a, "gc", "--remote", "origin", *opts)
        assert r.returncode == 2, (opts, r.stderr)
        assert sorted(os.listdir(shared / "packs")) == before
    dry = _trace(tmp_path, "-C", a, "gc", "--remote", "origin", "--expire", "now", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would merge" in dry.stdout, dry.stdout
    assert sorted(os.listdir(shared / "packs")) == before
    assert _trace(tmp_path, "-C", a, "gc", "--remote", "origin", "--expire", "now").returncode == 0
    assert sorted(os.listdir(shared / "packs")) != before     # (the real one does merge)


def test_an_s3_url_with_credentials_is_refused_without_repeating_them(tmp_path):
    a = _init(tmp_path, "a", "hello")
    for url in ("s3://key:secret@bucket/p", "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/p"):
        r = _trace(tmp_path, "-C", a, "remote", "add", "t", url)
        assert r.returncode == 1, r.stderr
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
        for word in ("secret", "key:", "AKIAEXAMPLE", "wJalrXUtnFEMI"):
            assert word not in r.stderr + r.stdout, r.stderr
    assert _trace(tmp_path, "-C", a, "remote").stdout == ""


def test_a_push_with_nothing_to_do_says_everything_up_to_date(tmp_path):
    a = _init(tmp_path, "a", "hello")
    _trace(tmp_path, "-C", a, "spawn", "kid", "-m", "a task")
    _trace(tmp_path, "-C", a, "tag", "v1")
    _trace(tmp_path, "-C", a, "remote", "add", "origin", str(tmp_path / "shared"))
    assert _trace(tmp_path, "-C", a, "push", "--all", "--tags", "--agents").returncode == 0
    for args in ((), ("--all", "--tags", "--agents"), ("origin", "main")):
        p = _trace(tmp_path, "-C", a, "push", *args)
        assert p.returncode == 0, p.stderr
        assert p.stderr == f"To {tmp_path / 'shared'}\nEverything up-to-date\n", p.stderr
        assert "[up to date]" not in p.stderr
