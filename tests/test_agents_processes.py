"""Sub-agents in real processes (docs/multiagent.md, "Fan-out" and "Crash recovery"): children
committing in parallel with their parent, SIGKILLed children resumed by name, and two processes
racing to spawn one name."""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
import random
import selectors
import signal
import time

import pytest
from conftest import assert_one_line_error, invoke, run_cli

from trace_core.errors import OperationError
from trace_core.repository import Repository

ACK = 32            # an acknowledgement: the 32-byte id of a commit that returned


def _fsck_errors(r) -> list:
    from trace_core.fsck import fsck
    return [f for f in fsck(r) if f.severity == "error"]


def _plan(name: str, rounds: int, slow_at: int | None = None) -> list:
    """A child's turns: per round a user message, a tool call, its result and an assistant
    message; then a final answer. `slow_at`: the index of a tool call whose tool 'runs' (the
    child sleeps) after the call is committed."""
    steps: list = []
    for i in range(rounds):
        steps += [("user", f"{name} q{i}"), ("call", f"{name}-c{i}"),
                  ("result", f"{name}-c{i}"), ("assistant", f"{name} a{i}")]
    steps.append(("assistant", f"{name}: final answer"))
    if slow_at is not None:
        assert steps[slow_at][0] == "call"
        steps[slow_at] = ("slow-call", steps[slow_at][1])
    return steps


def _do(r, step: tuple):
    kind, arg = step
    if kind == "user":
        return r.user(arg)
    if kind == "assistant":
        return r.assistant(arg)
    if kind in ("call", "slow-call"):
        return r.tool_call("search", {"q": arg}, call_id=arg)
    return r.tool_result(arg, f"found {arg}")


def _child(path: str, name: str, steps: list, hold: bool, ack_fd: int) -> None:
    """Open sub-agent `name` and commit `steps`, acknowledging each commit's id once it
    returned; at a slow call, wait (the tool runs) until killed; `hold`: at the end too (a
    slow reader of the acknowledgements still kills it)."""
    r = Repository.open(path, agent=name)
    for step in steps:
        c = _do(r, step)
        os.write(ack_fd, c.id)
        if step[0] == "slow-call":
            time.sleep(60)
    if hold:
        time.sleep(60)
    r.close()


def _parent(path: str, n: int, ack_fd: int) -> None:
    r = Repository.open(path)
    for i in range(n):
        os.write(ack_fd, r.user(f"parent {i}").id)
    r.close()


class _Fleet:
    """Forked writers, each acknowledging to its own pipe; collects acknowledgements and kills
    a writer once it has sent a chosen number of them."""

    def __init__(self) -> None:
        self.ctx = mp.get_context("fork")
        self.sel = selectors.DefaultSelector()
        self.procs: dict = {}
        self.acks: dict = {}
        self.kill_at: dict = {}
        self._buf: dict = {}

    def start(self, key: str, target, args: tuple, kill_at: int | None = None) -> None:
        rfd, wfd = os.pipe()
        p = self.ctx.Process(target=target, args=(*args, wfd))
        p.start()
        os.close(wfd)
        self.procs[key], self.acks[key], self._buf[key] = p, [], b""
        if kill_at is not None:
            self.kill_at[key] = kill_at
        self.sel.register(rfd, selectors.EVENT_READ, key)

    def run(self, timeout: float = 90) -> dict:
        """Read until every pipe is closed; returns {key: exit code}."""
        end = time.monotonic() + timeout
        while self.sel.get_map():
            assert time.monotonic() < end, "writers did not finish"
            for sk, _ in self.sel.select(1.0):
                key, fd = sk.data, sk.fd
                data = os.read(fd, 4096)
                if not data:
                    assert self._buf[key] == b"", "a torn acknowledgement"
                    self.sel.unregister(fd)
                    os.close(fd)
                    continue
                buf = self._buf[key] + data
                while len(buf) >= ACK:
                    self.acks[key].append(buf[:ACK])
                    buf = buf[ACK:]
                self._buf[key] = buf
                if len(self.acks[key]) >= self.kill_at.get(key, 1 << 30):
                    self.kill_at.pop(key)
                    os.kill(self.procs[key].pid, signal.SIGKILL)
        codes = {}
        for key, p in self.procs.items():
            p.join(30)
            codes[key] = p.exitcode
        return codes


def _history(r, tip=None) -> list:
    """Commit ids from `tip` (default HEAD) back to the root, oldest first (first parents)."""
    out, cid = [], tip or r.head_commit()
    while cid is not None:
        out.append(cid)
        parents = r.get_commit(cid).parents
        cid = parents[0] if parents else None
    return out[::-1]


# -- fan-out -----------------------------------------------------------------------------------
def test_fan_out_children_commit_in_parallel_with_the_parent(tmp_path):
    path = str(tmp_path / "r")
    r = Repository.init(path, encoding="chars/4")
    r.system("You coordinate.")
    r.user("Compare three databases.")
    names = ["pg", "lite", "duck"]
    spawned = r.spawn(names, task=[f"Benchmark {n}" for n in names])
    before = _history(r)
    r.close()
    plans = {n: _plan(n, 12) for n in names}

    fleet = _Fleet()
    for n in names:
        fleet.start(n, _child, (path, n, plans[n], False))
    fleet.start("parent", _parent, (path, 80))
    assert fleet.run() == {k: 0 for k in [*names, "parent"]}

    r = Repository.open(path)
    for n in names:
        child = r.agent(n)
        hist = _history(child)
        # exact: the root, then one commit per step, each the acknowledged one, in order
        assert hist == [spawned.roots[names.index(n)].id, *fleet.acks[n]]
        assert len(child.messages()) == 3 + len(plans[n])  # system, user, task + its steps
        assert child.status().pending_calls == []
        assert not set(hist) & set(_history(r))     # nothing of it in the parent's history
    assert _history(r) == before + fleet.acks["parent"]
    for n in names:
        c = r.collapse(n, strict=True)
        assert c.meta["tip"] == fleet.acks[n][-1] and c.meta["finished"]
    msgs = r.messages()
    assert [m["content"] for m in msgs[2:82]] == [f"parent {i}" for i in range(80)]
    for n, m in zip(names, msgs[82:], strict=True):
        assert m["content"].startswith(f"[Result of sub-agent {n} ") and \
            f"{n}: final answer" in m["content"]
    assert [a.status for a in r.agent_tree()] == ["collapsed"] * 3
    assert _fsck_errors(r) == []
    r.close()


def _locker(paths: list, ready_fd: int) -> None:
    """Hold an exclusive flock on each of `paths` until killed. (A process of its own: writers
    forked from a process holding a flock would share it.)"""
    fds = []
    for p in paths:
        fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        fds.append(fd)
    os.write(ready_fd, b"!")
    time.sleep(120)


def test_no_lock_is_shared_across_agents(tmp_path):
    """With every lock file of the parent's namespace and of one child held exclusively by
    another process, the other children still commit everything; the held ones wait."""
    path = str(tmp_path / "r")
    r = Repository.init(path, encoding="chars/4")
    r.user("start")
    r.spawn(["a", "b", "held"], task="work")
    r.close()
    trace = os.path.join(path, ".trace")
    held = os.path.join(trace, "agents", "held")
    locks = [os.path.join(trace, "commit.lock"), os.path.join(trace, "refs", "heads", "main"),
             os.path.join(trace, "HEAD"), os.path.join(held, "commit.lock")]
    locks += [os.path.join(trace, "objects", "journal", f)     # every journal there is
              for f in os.listdir(os.path.join(trace, "objects", "journal"))]
    ready_r, ready_w = os.pipe()
    locker = mp.get_context("fork").Process(target=_locker, args=(locks, ready_w))
    locker.start()
    os.close(ready_w)
    fleet = _Fleet()
    try:
        assert os.read(ready_r, 1) == b"!"
        for n in ("a", "b", "held"):
            fleet.start(n, _child, (path, n, _plan(n, 3), False))
        fleet.start("parent", _parent, (path, 5))
        deadline = time.monotonic() + 30
        # the free children finish while the parent and `held` cannot take their first step
        while fleet.procs["a"].is_alive() or fleet.procs["b"].is_alive():
            assert time.monotonic() < deadline, "a child waited on another agent's lock"
            fleet.procs["a"].join(0.05)
            fleet.procs["b"].join(0.05)
        assert fleet.procs["held"].is_alive() and fleet.procs["parent"].is_alive()
        assert fleet.acks["held"] == [] and fleet.acks["parent"] == []
    finally:
        os.close(ready_r)
        os.kill(locker.pid, signal.SIGKILL)     # (its locks go with it)
        locker.join(30)
    assert fleet.run() == {"a": 0, "b": 0, "held": 0, "parent": 0}
    assert {k: len(v) for k, v in fleet.acks.items()} == {"a": 13, "b": 13, "held": 13,
                                                          "parent": 5}
    r = Repository.open(path)
    assert _fsck_errors(r) == []
    r.close()


# -- crash recovery ----------------------------------------------------------------------------
def _resume(path: str, name: str, steps: list, ack_fd: int) -> None:
    """A new process for a killed child: open it by name, find where its work stopped from its
    own context and carry on (a tool call in flight is run again and answered)."""
    r = Repository.open(path, agent=name)
    done = len(r.messages()) - 2                    # (its root context: the parent's, the task)
    in_flight = [steps[done - 1][1]] if steps[done - 1][0].endswith("call") else []
    assert [p["call_id"] for p in r.status().pending_calls] == in_flight
    os.write(ack_fd, r.head_commit())                # first: where it resumed from
    for step in steps[done:]:
        os.write(ack_fd, _do(r, step).id)
    r.close()


def test_sigkilled_children_resume_by_name_and_collapse(tmp_path):
    path = str(tmp_path / "r")
    r = Repository.init(path, encoding="chars/4")
    r.user("Find the bug.")
    names = ["k0", "k1", "k2", "k3"]
    spawned = r.spawn(names, task="look into it")
    r.close()
    rng = random.Random(13)
    plans, kill_at, slow = {}, {}, {}
    for k, n in enumerate(names):
        rounds = 8
        if k % 2 == 0:   # killed while its tool runs: the call committed, the result not yet
            call_at = 4 * rng.randrange(1, rounds) + 1
            plans[n] = _plan(n, rounds, slow_at=call_at)
            kill_at[n] = call_at + 1
            slow[n] = plans[n][call_at][1]
        else:            # killed flat out, at a seeded acknowledgement count: mid-commit
            plans[n] = _plan(n, rounds)
            kill_at[n] = rng.randrange(3, 4 * rounds - 2)
    fleet = _Fleet()
    for n in names:
        fleet.start(n, _child, (path, n, plans[n], True), kill_at=kill_at[n])
    fleet.start("parent", _parent, (path, 30))
    codes = fleet.run()
    assert codes["parent"] == 0
    assert all(codes[n] == -signal.SIGKILL for n in names), codes
    acked = dict(fleet.acks)

    r = Repository.open(path)
    for k, n in enumerate(names):
        child = r.agent(n)
        hist = _history(child)
        assert hist[0] == spawned.roots[k].id
        mine = acked[n]
        assert len(mine) >= kill_at[n]
        # every acknowledged commit is there, in order; at most one more landed before the kill
        assert hist[1:len(mine) + 1] == mine and len(hist) - 1 - len(mine) in (0, 1)
        if n in slow:   # the agent's HEAD is its last acknowledged commit: the call in flight
            assert child.head_commit() == mine[-1]
            assert child.status().pending_calls == [{"index": 2 + kill_at[n] - 1,
                                                     "call_id": slow[n], "name": "search"}]
            p = run_cli("-C", path, "--agent", n, "status", check=True)
            assert f"Agent {n}\n" in p.stdout
            assert f"awaiting its result: search ({slow[n]}, #{2 + kill_at[n] - 1})" in p.stdout
            p = run_cli("-C", path, "status", "--agent", n, "--json", check=True)
            assert f'"call_id": "{slow[n]}"' in p.stdout
    r.close()

    resumed = _Fleet()
    for n in names:
        resumed.start(n, _resume, (path, n, plans[n]))
    resumed.start("parent", _parent, (path, 10))
    assert resumed.run() == {k: 0 for k in [*names, "parent"]}

    r = Repository.open(path)
    for n in names:
        child = r.agent(n)
        hist = _history(child)
        start = resumed.acks[n][0]              # it resumed from its HEAD at the time
        assert hist[hist.index(start) + 1:] == resumed.acks[n][1:]
        assert set(acked[n]) <= set(hist)
        assert len(child.messages()) == 2 + len(plans[n])
        assert child.status().pending_calls == []
        c = r.collapse(n, strict=True)
        assert c.meta["tip"] == hist[-1]
    parent_hist = set(_history(r))
    assert set(fleet.acks["parent"]) | set(resumed.acks["parent"]) <= parent_hist
    assert [a.status for a in r.agent_tree()] == ["collapsed"] * 4
    r.close()
    p = run_cli("-C", path, "fsck")
    assert p.returncode == 0, p.stdout + p.stderr


def test_status_takes_the_agent_after_the_command_too(rdir):
    invoke(rdir, "commit", "go", check=True)
    invoke(rdir, "spawn", "w", "-m", "work", check=True)
    r = Repository.open(rdir, agent="w")
    r.tool_call("grep", {"q": "x"}, call_id="c9")
    r.close()
    for args in (("--agent", "w", "status"), ("status", "--agent", "w")):
        p = invoke(rdir, *args, check=True)
        assert p.stdout.startswith("Agent w\n")
        assert "HEAD ends with 1 tool call awaiting its result: grep (c9, #2)" in p.stdout
    assert_one_line_error(invoke(rdir, "--agent", "w", "status", "--agent", "w"),
                          "give --agent once")
    assert_one_line_error(invoke(rdir, "status", "--agent", "nope"), "no agent 'nope'")


def _spawn_killed_at(path: str, point: str, names: list, _ack_fd: int) -> None:
    """Spawn `names`, the process dying (as if killed: no clean-up) at `point`: `claim`,
    between the HEAD and the branch + SPAWNED writes of the first child's namespace; `record`,
    with every child claimed but before the parent's spawn commit."""
    import importlib
    spawn_mod = importlib.import_module("trace_core.agents.spawn")  # (not the function)
    attr = {"claim": "move_refs", "record": "_record"}[point]
    setattr(spawn_mod, attr, lambda *a, **k: os._exit(9))
    Repository.open(path).spawn(names, task="t")


def test_a_spawn_killed_midway(tmp_path):
    path = str(tmp_path / "r")
    r = Repository.init(path, encoding="chars/4")
    r.user("start")
    r.close()
    fleet = _Fleet()
    fleet.start("claim", _spawn_killed_at, (path, "claim", ["h"]))
    assert fleet.run() == {"claim": 9}
    r = Repository.open(path)
    assert r.agents() == ["h"] and r.agent("h").head_commit() is None   # a namespace, empty
    assert _fsck_errors(r) == []
    s = r.spawn("h", task="again")                      # its name is not lost: spawn takes it
    assert r.agent("h").head_commit() == s.roots[0].id
    assert r.agent_tree()[0].spawned

    fleet = _Fleet()
    fleet.start("record", _spawn_killed_at, (path, "record", ["o1", "o2"]))
    assert fleet.run() == {"record": 9}
    assert r.head_commit() == s.commit.id     # the parent has no spawn commit of o1, o2...
    for n in ("o1", "o2"):                     # ...but the children are there, spawned from it
        info = next(a for a in r.agent_tree() if a.path == n)
        assert info.spawned and info.spawned_from == s.commit.hex and info.status == "running"
        with pytest.raises(OperationError, match="already exists"):
            r.spawn(n)
        child = r.agent(n)                      # they resume and collapse as any child does
        child.assistant(f"{n} done")
        assert r.collapse(n, strict=True).meta["tip"] == child.head_commit()
    assert _fsck_errors(r) == []
    r.close()


# -- racing spawns -----------------------------------------------------------------------------
def _spawner(path: str, names: list, barrier, ack_fd: int) -> None:
    r = Repository.open(path)
    barrier.wait()
    for n in names:
        try:
            r.spawn(n, task=f"task {n}")
            os.write(ack_fd, b"+" * ACK)
        except OperationError as exc:
            assert "\n" not in str(exc) and f"agent {n!r} already exists" in str(exc), exc
            os.write(ack_fd, b"-" * ACK)
    r.close()


def test_one_name_spawned_by_two_processes_at_once(tmp_path):
    path = str(tmp_path / "r")
    r = Repository.init(path, encoding="chars/4")
    r.user("start")
    r.close()
    names = [f"n{i}" for i in range(20)]    # (a few of them race past the existence check)
    barrier = mp.get_context("fork").Barrier(2)
    fleet = _Fleet()
    fleet.start("x", _spawner, (path, names, barrier))
    fleet.start("y", _spawner, (path, names, barrier))
    assert fleet.run() == {"x": 0, "y": 0}
    for i in range(len(names)):     # exactly one of the two succeeded, for every name
        assert {fleet.acks["x"][i][:1], fleet.acks["y"][i][:1]} == {b"+", b"-"}
    r = Repository.open(path)
    spawns = [c for c in (r.get_commit(x) for x in _history(r)) if c.op == "spawn"]
    assert sorted(k["agent"] for c in spawns for k in c.meta["children"]) == sorted(names)
    for c in spawns:   # each name's one spawn commit names its root, which SPAWNED holds
        for k in c.meta["children"]:
            child = r.agent(k["agent"])
            assert child.refs.read("SPAWNED") == k["root"].hex()
            assert _history(child) == [k["root"]]
    assert r.agents() == sorted(names)
    assert _fsck_errors(r) == []
    r.close()

    # the CLI, two processes at once: one spawns, the other prints one error line
    import subprocess
    import sys
    procs = [subprocess.Popen([sys.executable, "-m", "trace_cli.main", "-C", path, "spawn",
                               "cli", "-m", "work"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [(p.wait(60), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in outs) == [0, 1]
    err = next(e for code, _, e in outs if code == 1)
    assert err.splitlines() == ["error: agent 'cli' already exists: pick another name"]
    assert run_cli("-C", path, "fsck").returncode == 0
