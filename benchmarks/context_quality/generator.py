"""Generated agent sessions with planted facts, decoys and the questions that check them.

A task is one long agent session (OpenAI chat messages): a system prompt, the user's task with
its requirements and constraints, then turns of a user message (an instruction or chit-chat),
zero to three tool calls each followed by its verbose output (directory listings, server logs,
test runs, config files, grep hits), and an assistant message (a progress note, a finding or a
decision). It ends with the user asking where things stand. Facts are planted at seeded
positions:

    requirements   in the task message: the port, a database never to touch, the deadline, the
                   upstream request timeout (which a later correction replaces)
    decisions      assistant messages: the backend chosen (after another was tried), a pinned
                   dependency version (later corrected)
    findings       assistant messages: the retry limit (after a grep whose output also shows a
                   .bak file's value), the file holding the root cause
    tool facts     tool outputs only: the failing test, the pushed image's digest
    user facts     a user message mid-session: who is on call
    corrections    the timeout (in a user message or in a tool output, per task) and the pin

Decoys are near misses: the outdated value before its correction, similar identifiers (a
`_replica` database, a `.bak` config file, a `_retry` test that passed, a `_old.py` file, a
cached layer's digest, the tried backend, the default port in a log, another time of day,
someone who is out). Every value is drawn from `random.Random` seeded by (seed, task index):
the same arguments give the same sessions, byte for byte. The wording of the requirements,
decisions, findings and corrections is wording.py's: its defaults, or with `paraphrase` other
wordings without the words Trace's heuristics look for.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from .wording import Wording

SCENARIOS = [
    ("payments-api", "move the payments API to the new cluster"),
    ("search-indexer", "fix the flaky nightly build of the search indexer"),
    ("auth-gateway", "upgrade the TLS stack of the auth gateway"),
    ("billing-worker", "cut the p99 latency of the billing worker"),
    ("ingest-pipeline", "migrate the ingest pipeline to the new queue"),
    ("report-service", "add a CSV export to the report service"),
]
PACKAGES = ["cache", "client", "sync", "store", "queue", "render", "auth", "billing"]
MODULES = ["evict", "window", "merge", "retry", "codec", "pool", "lease", "index", "batch"]
PEOPLE = ["@dana_k", "@lee_m", "@sam_r", "@ivo_p", "@noor_a", "@kai_t", "@ana_b", "@tom_w"]
DATABASES = ["prod_db", "billing_main", "users_primary", "ledger_db", "orders_live", "auth_store"]
DEPENDENCIES = ["requests", "urllib3", "pydantic", "grpcio", "protobuf", "sqlalchemy"]
RESOURCES = ["orders", "users", "invoices", "reports", "tokens", "events", "sessions"]

MIN_MESSAGES = 60      # the fewest messages a session holds every planted fact in

SYSTEM_PROMPT = ("You are a careful coding agent working in the {repo} repository. Use the "
                 "tools to inspect files, logs and tests; report findings and decisions "
                 "clearly; follow the user's requirements and constraints exactly.")


@dataclass(frozen=True)
class Question:
    """One question about a task: the planted `answer`, the `decoys` (near misses a reader
    must not give), whether task success needs it (`must_know`), where its right value was
    planted (`source`: requirement, user, assistant or tool) and when (`position`: the index
    of that message over the session's length)."""

    id: str
    text: str
    answer: str
    decoys: tuple[str, ...]
    must_know: bool
    source: str
    position: float

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "answer": self.answer,
                "decoys": list(self.decoys), "must_know": self.must_know,
                "source": self.source, "position": round(self.position, 3)}


@dataclass
class Task:
    """One session: `messages` in order (the first is the system prompt) and its questions."""

    name: str
    goal: str
    messages: list[dict]
    questions: list[Question] = field(default_factory=list)


def is_model_step(msg: dict) -> bool:
    """Whether the agent calls the model right after `msg`: after each user message and
    after each tool result."""
    return msg.get("role") in ("user", "tool")


# -- filler ----------------------------------------------------------------------------------
def _time(rng: random.Random) -> str:
    return f"2026-03-{rng.randint(10, 28)}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:" \
           f"{rng.randint(0, 59):02d}Z"


def listing(rng: random.Random, where: str, n: int) -> list[str]:
    names = [f"{rng.choice(MODULES)}_{rng.randint(1, 99)}.{rng.choice(['py', 'toml', 'md'])}"
             for _ in range(n)]
    return [f"-rw-r--r--  1 agent agent {rng.randint(120, 48000):>6} Mar {rng.randint(10, 28)} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} {where}/{name}" for name in names]


def server_log(rng: random.Random, svc: str, n: int) -> list[str]:
    out = []
    for _ in range(n):
        res = rng.choice(RESOURCES)
        out.append(f"{_time(rng)} INFO {svc}-{rng.randint(1, 8)} handled GET /api/v2/{res}/"
                   f"{rng.randint(1000, 99999)} in {rng.randint(2, 900)}ms status=200 "
                   f"req={rng.getrandbits(48):012x}")
    return out


def pytest_log(rng: random.Random, mod: str, n: int) -> list[str]:
    return [f"tests/test_{mod}.py::test_{rng.choice(MODULES)}_{j} PASSED "
            f"[{min(99, (j + 1) * 100 // n):>3}%]" for j in range(n)]


def config_file(rng: random.Random, n: int) -> list[str]:
    keys = ["workers", "batch_size", "queue_depth", "log_level", "flush_ms", "max_conns",
            "idle_ms", "buffer_kb", "shards", "poll_ms"]
    out = [f"[{rng.choice(PACKAGES)}]"]
    for _ in range(n):
        k = rng.choice(keys)
        v = rng.choice(["info", "debug", "warn"]) if k == "log_level" else rng.randint(1, 4096)
        out.append(f"{k} = {json.dumps(v)}")
    return out


def grep_hits(rng: random.Random, n: int) -> list[str]:
    return [f"src/{rng.choice(PACKAGES)}/{rng.choice(MODULES)}.py:{rng.randint(1, 900)}:    "
            f"{rng.choice(['return ', 'if ', 'self.', 'await '])}{rng.choice(MODULES)}_"
            f"{rng.choice(RESOURCES)}({rng.randint(0, 9)})" for _ in range(n)]


CHITCHAT = [
    "thanks!", "ok, keep going", "lunch break, back in 20 minutes", "how's it going?", "nice",
    "the build server is slow today, sorry about that", "great, carry on",
    "I'll be in a meeting for a bit, continue without me",
]
NOTES = [
    "Checked that; nothing unusual, moving on.", "The output looks normal for this service.",
    "No errors there. Next step.", "That matches what I expected; continuing.",
    "Noted. I will look at the next component.", "Nothing relevant in this output.",
]
REPLIES = ["Sure.", "Continuing.", "Will do.", "No problem, carrying on."]


class _Session:
    """The skeleton of one session: filler turns, and where each kind of message is."""

    def __init__(self, rng: random.Random, repo: str):
        self.rng, self.repo = rng, repo
        self.msgs: list[dict] = []
        self.users: list[int] = []          # user messages after the task message
        self.notes: list[int] = []          # assistant text messages
        self.calls: list[int] = []          # tool calls (the result follows at +1)
        self.used: set[int] = set()

    def fill(self, n: int) -> None:
        rng = self.rng
        while len(self.msgs) < n - 1:
            chat = rng.random() < 0.25
            outputs = [] if chat else [self._tool_output()
                                       for _ in range(rng.choice([1, 1, 2, 2, 3]))]
            self.users.append(len(self.msgs))
            self.msgs.append({"role": "user",
                              "content": outputs[0][0] if outputs else rng.choice(CHITCHAT)})
            for _, name, args, lines in outputs:
                self.call(name, args, lines)
            self.notes.append(len(self.msgs))
            self.msgs.append({"role": "assistant",
                              "content": rng.choice(REPLIES if chat else NOTES)})
        self.msgs.append({"role": "user", "content": "Wrap up: where do things stand?"})

    def _tool_output(self) -> tuple[str, str, dict, list[str]]:
        """(the user's instruction that asks for it, tool name, arguments, output lines)."""
        rng = self.rng
        n = rng.randint(10, 45)
        kind = rng.randrange(5)
        mod = rng.choice(MODULES)
        if kind == 0:
            where = f"src/{rng.choice(PACKAGES)}"
            ask = rng.choice([f"List the files in {where}.", f"What is in {where}?"])
            return ask, "bash", {"cmd": f"ls -la {where}"}, listing(rng, where, n)
        if kind == 1:
            ask = rng.choice([f"Check the logs of {self.repo} next.", "Any errors in the logs?"])
            return ask, "bash", {"cmd": f"tail -n {n} logs/{self.repo}.log"}, \
                server_log(rng, self.repo, n)
        if kind == 2:
            ask = rng.choice([f"Run the tests for {mod}.", f"Run the {mod} tests again please."])
            done = f"===== {n} passed in {rng.randint(1, 60)}.0s ====="
            return ask, "run_tests", {"path": f"tests/test_{mod}.py"}, \
                [*pytest_log(rng, mod, n), done]
        if kind == 3:
            return f"Read conf/{mod}.toml and tell me what stands out.", \
                "read_file", {"path": f"conf/{mod}.toml"}, config_file(rng, n)
        return f"Can you grep for uses of {mod} in src/?", \
            "grep", {"pattern": mod, "path": "src/"}, grep_hits(rng, n)

    def call(self, name: str, args: dict, lines: list[str]) -> None:
        cid = f"call_{len(self.calls) + 1:03d}"
        self.calls.append(len(self.msgs))
        self.msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": cid, "type": "function",
             "function": {"name": name, "arguments": json.dumps(args, sort_keys=True)}}]})
        self.msgs.append({"role": "tool", "tool_call_id": cid, "content": "\n".join(lines)})

    # -- planting ---------------------------------------------------------------------------
    def slot(self, kind: list[int], lo: float, hi: float, after: int = 0) -> int:
        """An unused message of `kind` at a seeded place between lo and hi of the session
        (the first at or after it, else the last before it), past index `after`."""
        at = max(after + 1, int(self.rng.uniform(lo, hi) * len(self.msgs)))
        free = [i for i in kind if i not in self.used and i > after]
        if not free:
            raise ValueError("the session is too short to plant every fact")
        pick = next((i for i in free if i >= at), free[-1])
        self.used.add(pick)
        return pick

    def say(self, i: int, text: str) -> None:
        self.msgs[i]["content"] = text

    def tool(self, i: int, name: str, args: dict, lines: list[str],
             planted: list[str]) -> None:
        """Make the call at `i` a call of `name` whose output is `lines` with `planted`
        inserted at seeded places."""
        fn = self.msgs[i]["tool_calls"][0]["function"]
        fn["name"], fn["arguments"] = name, json.dumps(args, sort_keys=True)
        for line in planted:
            lines.insert(self.rng.randint(0, len(lines)), line)
        self.msgs[i + 1]["content"] = "\n".join(lines)

    def insert(self, i: int, line: str) -> None:
        """Insert `line` at a seeded place in the tool output after the call at `i`."""
        lines = self.msgs[i + 1]["content"].split("\n")
        lines.insert(self.rng.randint(0, len(lines)), line)
        self.msgs[i + 1]["content"] = "\n".join(lines)


def _two(rng: random.Random, pool: list) -> tuple:
    a, b = rng.sample(pool, 2)
    return a, b


def make_task(index: int, seed: int, min_messages: int, max_messages: int,
              paraphrase: bool = False) -> Task:
    """Task number `index` of the benchmark with `seed` (see the module docstring); with
    `paraphrase`, its facts are worded otherwise (wording.py), all else the same."""
    rng = random.Random(f"context-quality:{seed}:{index}")
    say = Wording(paraphrase, f"context-quality:{seed}:{index}")
    repo, goal = SCENARIOS[index % len(SCENARIOS)]
    name = repo if index < len(SCENARIOS) else f"{repo}-{index // len(SCENARIOS) + 1}"
    s = _Session(rng, repo)
    port, port_decoy = rng.choice([8443, 9443, 7443, 8843, 10443, 6443]), 8080
    db = rng.choice(DATABASES)
    deadline = f"{rng.randint(15, 18)}:{rng.choice([0, 15, 30, 45]):02d}"
    standup = f"{rng.randint(9, 11)}:{rng.choice([0, 15, 30, 45]):02d}"
    t_old = rng.choice([20, 30, 40])
    t_new = t_old + rng.choice([5, 15, 25])
    s.msgs.append({"role": "system", "content": SYSTEM_PROMPT.format(repo=repo)})
    s.msgs.append({"role": "user", "content": (
        f"Task: {goal}.\n{say('header')}\n{say('port', port=port)}\n{say('db', db=db)}\n"
        f"{say('deadline', deadline=deadline)}\n{say('timeout', old=t_old)}\n"
        "Keep me posted as you go.")})
    s.fill(rng.randint(min_messages, max_messages))
    n = len(s.msgs)
    qs: list[Question] = []

    def q(qid: str, text: str, answer: str, decoys: tuple, must: bool, source: str,
          at: int) -> None:
        qs.append(Question(qid, text, answer, tuple(str(d) for d in decoys), must, source,
                           at / n))

    # requirements (the task message), with their near misses later on
    q("port", "Which port must the service use?", str(port), (port_decoy,), True,
      "requirement", 1)
    s.insert(s.slot(s.calls, 0.1, 0.9), f"{_time(rng)} INFO {repo}-1 listening on "
             f"0.0.0.0:{port_decoy}")
    q("forbidden_db", "Which database must never be touched?", db, (f"{db}_replica",), True,
      "requirement", 1)
    s.insert(s.slot(s.calls, 0.1, 0.9), f"{db}_replica | agent | UTF8 | read-only copy")
    q("deadline", "What is the deadline today (time of day)?", deadline, (standup,), True,
      "requirement", 1)
    s.say(s.slot(s.users, 0.1, 0.9), f"btw the standup moved to {standup}")

    # the timeout: corrected by the user, or by a notice in a tool output
    fix = s.slot(s.users if rng.random() < 0.5 else s.calls, 0.3, 0.9)
    if fix in s.users:
        s.say(fix, say("timeout_fix", new=t_new, old=t_old))
        q("timeout", "What is the upstream request timeout?", f"{t_new}s", (f"{t_old}s",),
          True, "user", fix)
    else:
        s.tool(fix, "read_file", {"path": "ops/NOTICE.md"}, [
            "# Operations notice", "", f"Owner: {rng.choice(PEOPLE)}",
            *[f"- maintenance window {rng.randint(1, 28)} March, {rng.randint(0, 23)}:00 UTC"
              for _ in range(rng.randint(4, 12))]],
            [say("timeout_notice", new=t_new, old=t_old)])
        q("timeout", "What is the upstream request timeout?", f"{t_new}s", (f"{t_old}s",),
          True, "tool", fix + 1)

    # decisions: a backend tried, then the one chosen
    backend, tried = _two(rng, [f"backend_v{k}" for k in range(1, 6)])
    first = s.slot(s.notes, 0.1, 0.45)
    s.say(first, f"Tried {tried}: p99 latency too high in the load test, dropping it.")
    chosen = s.slot(s.notes, 0.45, 0.8, after=first)
    s.say(chosen, say("decision", backend=backend))
    q("backend", "Which backend did the agent decide to use?", backend, (tried,), True,
      "assistant", chosen)

    # a dependency pin, corrected later
    dep = rng.choice(DEPENDENCIES)
    v1 = f"{rng.randint(1, 3)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    v2 = v1.rsplit(".", 1)[0] + f".{int(v1.rsplit('.', 1)[1]) + rng.randint(1, 4)}"
    pin = s.slot(s.notes, 0.1, 0.5)
    s.say(pin, say("pin", dep=dep, v1=v1))
    repin = s.slot(s.notes, 0.5, 0.95, after=pin)
    s.say(repin, say("repin", dep=dep, v1=v1, v2=v2))
    q("pin", "Which exact dependency version should be pinned (name==version)?", f"{dep}=={v2}",
      (f"{dep}=={v1}",), False, "assistant", repin)

    # a finding after a grep whose output holds a .bak decoy
    limit, old_limit = _two(rng, list(range(3, 13)))
    g = s.slot(s.calls, 0.1, 0.7)
    s.tool(g, "grep", {"pattern": "max_retries", "path": "conf/"}, grep_hits(rng, 6),
           [f"conf/retry.toml.bak:4:max_retries = {old_limit}",
            f"conf/retry.toml:4:max_retries = {limit}"])
    found = s.slot(s.notes, 0, 0, after=g)
    s.say(found, say("retry", limit=limit))
    q("retry", "What is the retry limit configured in conf/retry.toml?", str(limit),
      (str(old_limit),), False, "assistant", found)

    # a root cause, with a similar file listed elsewhere
    pkg, mod = rng.choice(PACKAGES), rng.choice(MODULES)
    cause = f"src/{pkg}/{mod}.py"
    s.insert(s.slot(s.calls, 0.05, 0.9), f"-rw-r--r--  1 agent agent   2114 Mar 12 10:02 "
             f"src/{pkg}/{mod}_old.py")
    at = s.slot(s.notes, 0.2, 0.9)
    s.say(at, say("cause", cause=cause))
    q("root_cause", "Which file holds the root cause of the bug?", cause,
      (f"src/{pkg}/{mod}_old.py",), False, "assistant", at)

    # tool-only facts: a failing test among similar passing ones, a digest beside another
    tmod, tcase = rng.choice(MODULES), rng.choice(MODULES)
    failing = f"tests/test_{tmod}.py::test_{tcase}_window"
    t = s.slot(s.calls, 0.05, 0.95)
    s.tool(t, "run_tests", {"path": f"tests/test_{tmod}.py"}, pytest_log(rng, tmod, 30),
           [f"{failing}_retry PASSED [ 51%]",
            f"FAILED {failing} - AssertionError: expected 200, got 503"])
    q("failing_test", "Which test failed?", failing, (f"{failing}_retry",), False, "tool", t + 1)
    digest, cached = f"sha256:{rng.getrandbits(48):012x}", f"sha256:{rng.getrandbits(48):012x}"
    d = s.slot(s.calls, 0.05, 0.95)
    s.tool(d, "bash", {"cmd": f"tail -n 40 logs/{repo}-deploy.log"},
           server_log(rng, repo, 30),
           [f"{_time(rng)} INFO push: reused cached layer digest {cached}",
            f"{_time(rng)} INFO push: pushed image digest {digest} to registry"])
    q("digest", "What is the digest of the pushed image?", digest, (cached,), False, "tool",
      d + 1)

    # a user fact mid-session, and someone else who is away
    owner, away = _two(rng, PEOPLE)
    o = s.slot(s.users, 0.05, 0.95)
    s.say(o, f"FYI: {owner} is on call this week, ping them if the deploy breaks.")
    s.say(s.slot(s.users, 0.05, 0.95), f"{away} is out this week, so no reviews from them.")
    q("owner", "Who is on call this week?", owner, (away,), False, "user", o)

    return Task(name, goal, s.msgs, qs)


def generate(tasks: int = 6, seed: int = 18, min_messages: int = 150,
             max_messages: int = 400, paraphrase: bool = False) -> list[Task]:
    """`tasks` sessions of min_messages to max_messages messages each (`paraphrase`: the
    facts worded otherwise, wording.py)."""
    if min_messages < MIN_MESSAGES or max_messages < min_messages:
        raise ValueError(f"sessions need {MIN_MESSAGES} messages or more, and max >= min")
    return [make_task(i, seed, min_messages, max_messages, paraphrase) for i in range(tasks)]
