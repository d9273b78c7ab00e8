"""A real task, end to end: a head agent splits a research question, three sub-agents research
the parts in namespaces of their own, their results are collapsed back, the head answers, and
the provenance of every fact in the answer is traced back across the agents.

    pip install -e '.[openai]'
    python examples/multi_agent_research.py [REPO_DIR]                 # offline, scripted models
    python examples/multi_agent_research.py --policies [REPO_DIR]      # with context policies
    OPENAI_API_KEY=... python examples/multi_agent_research.py --live [REPO_DIR]   # the real API

The agents are OpenAI Agents SDK agents run by the real `Runner`. The head agent calls its
sub-agents as tools (agents-as-tools: `TraceSession.spawn_tool` is `Agent.as_tool` with the
nested run in a Trace sub-agent), which Trace maps to spawn and collapse:

    head model calls flights, venues, weather   ->  one `spawn` commit, three child namespaces
    each sub-agent's run (its tool calls too)   ->  commits in agents/flights/, ...
    each sub-agent returns                      ->  a `collapse` commit answering its call
    head model answers                          ->  a commit in the head's context

Offline, each agent's model is a deterministic `Model` that plays its part from what it is
given (the tools and the Runner are the real ones). With `--live` (and OPENAI_API_KEY) every
agent talks to the real API (model from OPENAI_MODEL, default gpt-4.1-mini).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable

from agents import Agent, Runner, function_tool, set_tracing_disabled

from trace_core import Repository
from trace_core.integrations.openai_agents import TraceSession
from trace_core.policy import enable_policies

QUESTION = ("Plan our team offsite: 12 people, 2 days in Lisbon in May. What do flights and a "
            "venue cost, and what weather should we pack for?")

# The notes the sub-agents research (the team's own notes: the example's data, not facts about
# the world). Each search result carries its note id, which the answers cite.
NOTES = {
    "flights-may.md": "Return flights Berlin-Lisbon in May cost 180 EUR per person (TP1234, "
                      "09:40)",
    "flights-june.md": "Return flights Berlin-Lisbon in June cost 240 EUR per person",
    "venue-casa-do-rio.md": "Casa do Rio in Lisbon seats 14 people and costs 900 EUR per day, "
                            "projector included",
    "venue-lx-loft.md": "The LX loft seats 40 and costs 2400 EUR a day",
    "weather-lisbon-may.md": "Weather in Lisbon in May: 22 C by day, 15 C at night, about 6 "
                             "rainy days",
    "weather-porto-may.md": "Weather in Porto in May: 19 C by day, about 10 rainy days",
}


@function_tool
def search_notes(query: str) -> str:
    """Search the team's notes; returns the two best matches as `[note id] text` lines."""
    words = {w for w in re.findall(r"[a-z]+", query.lower()) if len(w) > 2}
    scored = sorted(((len(words & set(re.findall(r"[a-z]+", text.lower()))), note, text)
                     for note, text in NOTES.items()), key=lambda s: (-s[0], s[1]))
    hits = [f"[{note}] {text}" for score, note, text in scored[:2] if score > 0]
    return "\n".join(hits) or "no note matches"


# -- the agents -----------------------------------------------------------------------------------
RESEARCHER = ("You research one question in the team's notes with search_notes. Answer in one "
              "sentence and cite the note you used as [note id].")
HEAD = ("You plan team events. Split the question into flights, venue and weather and call "
        "the three research tools at once, one task each. Then answer: one line per fact, "
        "each keeping its [note id], and a budget line.")


def build(session: TraceSession, model_for: Callable[[str], object]) -> Agent:
    """The head agent, with one sub-agent tool per part of the question."""
    tools = [session.spawn_tool(Agent(name=name, instructions=RESEARCHER, model=model_for(name),
                                      tools=[search_notes]), name, about)
             for name, about in (("flights", "Research flights for the trip."),
                                 ("venues", "Find a meeting venue."),
                                 ("weather", "Research the weather."))]
    return Agent(name="head", instructions=HEAD, model=model_for("head"), tools=tools)


# -- offline: scripted models ---------------------------------------------------------------------
def scripted(name: str):
    """A deterministic model for agent `name`: it plays its part from the items it is given."""
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
        ResponseReasoningItem,
    )
    from openai.types.responses.response_reasoning_item import Summary

    def say(text):
        return ResponseOutputMessage(id=f"msg_{name}", type="message", role="assistant",
                                     status="completed", content=[ResponseOutputText(
                                         type="output_text", text=text, annotations=[])])

    def think(text):
        return ResponseReasoningItem(id=f"rs_{name}", type="reasoning",
                                     summary=[Summary(type="summary_text", text=text)])

    def call(tool, n, **args):
        return ResponseFunctionToolCall(id=f"fc_{name}_{n}", call_id=f"call_{name}_{n}",
                                        type="function_call", name=tool,
                                        arguments=json.dumps(args))

    def head(items):
        results = [i["output"] for i in items if i.get("type") == "function_call_output"]
        if not results:
            return [think("Three independent parts: flights, a venue, the weather."),
                    call("flights", 1, input="Price of return flights Berlin to Lisbon in May"),
                    call("venues", 2, input="A meeting venue in Lisbon for 12 people: "
                                            "capacity and price per day"),
                    call("weather", 3, input="Weather in Lisbon in May")]
        facts = [re.split(r"\n\s*\nHow it got there:", r.split("Answer:\n", 1)[-1])[0].strip()
                 for r in results]
        lines = ["Offsite plan, 12 people, 2 days in Lisbon in May:"]
        lines += [f"- {f}" for f in facts]
        person = re.search(r"(\d+) EUR per person", " ".join(facts))
        day = re.search(r"(\d+) EUR per day", " ".join(facts))
        if person and day:
            p, d = int(person.group(1)), int(day.group(1))
            lines.append(f"Budget: flights 12 x {p} = {12 * p} EUR, venue 2 x {d} = {2 * d} "
                         f"EUR, together {12 * p + 2 * d} EUR.")
        return [say("\n".join(lines))]

    def researcher(items):
        found = [i["output"] for i in items if i.get("type") == "function_call_output"]
        if not found:
            task = next(i["content"] for i in reversed(items) if i.get("role") == "user")
            return [call("search_notes", 1, query=task)]
        note, text = found[-1].splitlines()[0][1:].split("] ", 1)
        return [say(f"{text} [{note}].")]

    class Scripted(Model):
        async def get_response(self, system_instructions, input, *args, **kwargs):
            items = [input] if isinstance(input, str) else json.loads(json.dumps(input))
            play = head if name == "head" else researcher
            return ModelResponse(output=play(items), usage=Usage(), response_id=None)

        def stream_response(self, *args, **kwargs):
            raise NotImplementedError("the example runs without streaming")

    return Scripted()


# -- inspection: who did what ---------------------------------------------------------------------
def trace_cli(path: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trace_cli", "-C", path, *args],
                          capture_output=True, text=True)


def inspect(path: str, repo: Repository) -> None:
    """Show who did what: the agent tree, the parent and children lanes, a collapse expanded,
    and where each fact of the answer came from. A command this version of Trace lacks is
    skipped with a note."""
    collapses = [c for c in first_parent(repo, repo.head_commit()) if c.op == "collapse"]
    commands = [(["agents"], "the agent tree"),
                (["log", "--oneline"], "the head's history: its spawn and collapse commits"),
                (["graph", "--agents", "--color", "never"], "the head's and the sub-agents' lanes")]
    if collapses:       # (a live model may answer without calling its sub-agents)
        commands.append((["expand", collapses[-1].hex[:12]],
                         "the first collapse, the child's work inline"))
    for args, what in commands:
        p = trace_cli(path, *args)
        print(f"\n$ trace {' '.join(args)}    # {what}")
        if p.returncode == 2 and "No such" in p.stderr:     # (a Trace older than issue 13)
            print(f"  (skipped: {p.stderr.strip().splitlines()[-1]})")
        else:
            print((p.stdout + p.stderr).rstrip())
    print("\nWhere each fact of the answer came from:")
    for line, sources in provenance(repo, collapses):
        print(f"  {line}")
        for s in sources or ["the head agent's own work (no note cited)"]:
            print(f"      {s}")


def first_parent(repo: Repository, tip: bytes | None):
    """The commits of one namespace from `tip` back to its first (newest first)."""
    while tip is not None:
        c = repo.get_commit(tip)
        yield c
        tip = c.parents[0] if c.parents else None


def provenance(repo: Repository, collapses: list) -> list[tuple[str, list[str]]]:
    """For each line of the head's answer, the path of each [note id] it cites: the head's
    collapse commit that brought it, the sub-agent, the sub-agent's commit whose tool output
    first held it."""
    final = repo.messages()[-1]
    text = final["content"][0]["text"] if isinstance(final.get("content"), list) \
        else str(final.get("content"))
    out = []
    for line in text.splitlines()[1:]:
        sources = []
        for note in re.findall(r"\[([\w.-]+\.md)\]", line):
            for col in collapses:
                carried = repo.get_blob(col.blobs[0]).message
                if f"[{note}]" not in json.dumps(carried):
                    continue
                agent = col.meta["agent"]
                sources.append(f"collapse {col.hex[:12]} of the head (the result of its call "
                               f"{col.meta.get('call')})")
                sources.append(f"  <- sub-agent {agent}: {found_by(repo.agent(agent), note, col)}")
                break
        out.append((line, sources))
    return out


def found_by(child: Repository, note: str, col) -> str:
    """The child's commit (below the collapsed tip) whose tool output first held `note`, and
    the call that produced it."""
    for c in reversed(list(first_parent(child, col.meta["tip"]))):
        msgs = [child.get_blob(b).message for b in c.blobs]
        for m in msgs:
            if m.get("type") == "function_call_output" and f"[{note}]" in str(m["output"]):
                made = next((x for x in msgs if x.get("type") == "function_call"
                             and x.get("call_id") == m["call_id"]), {})
                return f"commit {c.hex[:12]}, {made.get('name')}({made.get('arguments')})"
    return "(not in its history)"


# -- the run --------------------------------------------------------------------------------------
#: `--policies`: a small budget, so that the policies have work even in this short task, and
#: follow-up turns: a constraint, a tangent, and back to the task
POLICIES = {"budget.max-tokens": "1200",
            "policy.squeeze.action": "compress", "policy.squeeze.keep-turns": "1",
            "policy.keep.action": "pin",
            "policy.side.action": "branch", "policy.back.action": "return"}


FOLLOW_UPS = ["The total budget must stay under 5000 EUR, and keep the venue Casa do Rio.",
              "Unrelated: which Python version should the laptops run for the data science "
              "workshop next quarter?",
              "Back to the offsite plan for Lisbon: confirm the flights and the venue cost for "
              "the 12 people in May."]


def policy_report(repo: Repository) -> None:
    """Which policies fired, in which namespace, and why (each action is a commit)."""
    print("\nWhat the policies did (commits whose meta names a policy):")
    views = [(None, repo)] + [(a, repo.agent(a)) for a in repo.agents()]
    fired = 0
    for name, view in views:
        for c in view.log([b["name"] for b in view.branches()], limit=1000):
            if c.policy:
                fired += 1
                print(f"  {name or 'head'}: {c.id[:12]} {c.op:<8} {c.policy['name']}: "
                      f"{c.policy['why']}")
    if not fired:
        print("  (none fired)")


async def main(path: str, live: bool, policies: bool = False) -> Repository:
    set_tracing_disabled(not live)
    if live:
        name = os.environ.get("OPENAI_MODEL", "gpt-4.1-mini")
        def model_for(agent: str) -> object:
            return name
    else:
        model_for = scripted
    exists = os.path.isdir(os.path.join(path, ".trace"))
    repo = Repository.open(path) if exists else Repository.init(path)
    if repo.head_commit() is not None:
        sys.exit(f"error: {path} already holds a history; give an empty directory")
    if policies:                                      # docs/policy.md: context policies
        for key, value in POLICIES.items():
            repo.set_config(key, value)
        enable_policies(repo)                         # every commit, in every namespace
    session = TraceSession(repo)                      # the head agent's context: this HEAD
    head = build(session, model_for)
    print(f"question: {QUESTION}\n")
    result = await Runner.run(head, QUESTION, session=session, hooks=session.spawn_hooks())
    print(f"head agent:\n{result.final_output}")
    inspect(path, repo)
    if policies:
        for turn in FOLLOW_UPS:
            print(f"\nuser: {turn}")
            result = await Runner.run(head, turn, session=session, hooks=session.spawn_hooks())
            print(f"head agent ({repo.head_branch()}): {result.final_output.splitlines()[0]}")
        policy_report(repo)
    return repo


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo_dir", nargs="?", help="where to create the repository (default: a "
                    "new temporary directory)")
    ap.add_argument("--live", action="store_true", help="use the real API (needs "
                    "OPENAI_API_KEY)")
    ap.add_argument("--policies", action="store_true", help="run with context policies on "
                    "(a 1,400-token budget; docs/policy.md) and report what they did")
    a = ap.parse_args()
    if a.live and not os.environ.get("OPENAI_API_KEY"):
        sys.exit("error: --live needs OPENAI_API_KEY")
    asyncio.run(main(a.repo_dir or tempfile.mkdtemp(prefix="trace-research-"), a.live,
                     a.policies))
