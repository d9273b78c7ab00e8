"""The arms, and one session run through one arm.

An arm is a name and the repository config it sets: nothing else differs between arms. Every
arm commits the session's messages one by one to a fresh repository with `budget.max-tokens`
set (the system prompt pinned, as README's example does); an arm with `policy.*` keys turns
Trace's policy engine on (`trace_core.policy.enable_policies`), so every commit evaluates its
policies. At each model step (after a user message and after a tool result) the prompt is the
context at HEAD, materialized, truncated at the budget if it is over (prompt.py): the unmanaged
arm's only means, the managed arms' last resort.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from trace_core.policy import enable_policies
from trace_core.repository import Repository

from .generator import Task, is_model_step
from .prompt import PromptCounter, text, truncate

SQUEEZE = {"policy.squeeze.action": "compress", "policy.squeeze.at": "0.8",
           "policy.squeeze.target": "0.5", "policy.squeeze.keep-turns": "4"}
KEEP = {"policy.keep.action": "pin"}

ARMS: list[tuple[str, dict[str, str]]] = [
    ("unmanaged", {}),
    ("mask", {**SQUEEZE, "policy.squeeze.strategy": "mask"}),
    ("mask+extractive", {**SQUEEZE, "policy.squeeze.strategy": "mask,extractive"}),
    ("mask+extractive+pin", {**SQUEEZE, "policy.squeeze.strategy": "mask,extractive", **KEEP}),
]


@dataclass
class SessionRun:
    """What one arm did with one task: the tokens of each model step's prompt, how many steps
    had to be truncated, the final prompt (messages and text), the commits by operation, and
    how many times a policy's action failed (the engine warns and carries on)."""

    steps: list[int] = field(default_factory=list)
    truncated_steps: int = 0
    final: list[dict] = field(default_factory=list)
    final_text: str = ""
    final_tokens: int = 0
    final_dropped: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    policy_failures: int = 0

    @property
    def tokens_sent(self) -> int:
        return sum(self.steps)


def select(names: str | None) -> list[tuple[str, dict[str, str]]]:
    """The arms named in the comma-separated `names` (all for None), in ARMS order."""
    if not names:
        return list(ARMS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = dict(ARMS)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"unknown arm(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [(n, c) for n, c in ARMS if n in wanted]


def run_session(task: Task, config: dict[str, str], budget: int, path: str,
                encoding: str | None = None) -> SessionRun:
    """Commit `task`'s messages to a new repository at `path` configured by `config` and
    record the prompt of every model step (see the module docstring)."""
    os.makedirs(path, exist_ok=True)
    repo = Repository.init(path, encoding=encoding)
    try:
        warnings: list[str] = []
        repo.on_warning = warnings.append        # budget warnings: expected, not printed
        repo.set_config("budget.max-tokens", str(budget))
        for key, value in config.items():
            repo.set_config(key, value)
        if any(k.startswith("policy.") for k in config):
            enable_policies(repo)
        count = PromptCounter(repo.token_counter())
        run = SessionRun()
        for i, msg in enumerate(task.messages):
            repo.append(msg, pinned=i == 0)
            if is_model_step(msg):
                prompt, dropped = truncate(repo.materialize("openai"), budget, count)
                run.steps.append(count.prompt(prompt))
                run.truncated_steps += dropped > 0
        # the final prompt: the questions are asked at the end of the session
        run.final, run.final_dropped = truncate(repo.materialize("openai"), budget, count)
        run.final_text, run.final_tokens = text(run.final), count.prompt(run.final)
        run.ops = dict(sorted(Counter(c.op for c in repo.log()).items()))
        # a policy whose action fails warns ("policy NAME (ACTION) did not run: ...")
        run.policy_failures = sum(w.startswith("policy ") and " did not run: " in w
                                  for w in warnings)
        return run
    finally:
        repo.close()
