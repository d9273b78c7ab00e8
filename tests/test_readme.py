"""README.md keeps its promises: its Python example runs and leaves a prompt a provider accepts,
and it names every command and every document in docs/."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_python_example_leaves_a_valid_prompt(tmp_path, monkeypatch):
    from trace_core.repository import Repository
    from trace_core.toolpairs import analyze
    block = re.search(r"## Python API.*?```python\n(.*?)```", README, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    with Repository.open(str(tmp_path / "work")) as repo:
        msgs = repo.materialize("openai")
        assert msgs == scope["prompt"] and msgs[-1]["role"] == "user"
        p = analyze(msgs)
        assert p.problems == [] and p.pending == []
        assert repo.warnings == []


def test_every_command_is_listed():
    from trace_cli.registry import COMMANDS
    missing = [c for c in COMMANDS if f"`{c}`" not in README and f"`{c} " not in README]
    assert missing == []


def test_every_document_is_listed():
    docs = sorted(f for f in os.listdir(ROOT / "docs") if f.endswith(".md"))
    assert [d for d in docs if f"docs/{d}" not in README] == []
