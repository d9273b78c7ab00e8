"""Shared fixtures: fresh repositories in temporary directories, a CLI runner helper."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture
def repo(tmp_path):
    from trace_core.repository import Repository

    r = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    yield r
    r.close()


def run_cli(*args, cwd=None, input=None, env=None, check=False):
    """Run `python -m trace_cli.main ARGS` in a real process; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.pop("TRACE_DIR", None)
    if env:
        full_env.update(env)
    p = subprocess.run([sys.executable, "-m", "trace_cli.main", *args], cwd=cwd, input=input,
                       capture_output=True, text=True, env=full_env)
    if check and p.returncode != 0:
        raise AssertionError(f"trace {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


@pytest.fixture
def cli():
    return run_cli


def run_in(rdir, *args, **kw):
    """`trace -C RDIR ARGS` in a real process (see run_cli)."""
    return run_cli("-C", rdir, *args, **kw)


@pytest.fixture
def rdir(tmp_path):
    """An empty repository (chars/4 token counting) made by `trace init`; its directory."""
    d = str(tmp_path / "r")
    run_cli("init", "--encoding", "chars/4", "-q", d, check=True)
    return d
