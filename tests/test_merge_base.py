"""merge-base without a full index build (plumbing.walks.merge_bases) answers what the commit
index answers: on generated DAGs (criss-cross merges, several bases, unrelated histories, same-
millisecond batches, clocks that went back), indexed or not."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trace_core.index import CommitIndex
from trace_core.objects import Commit
from trace_core.plumbing import walks
from trace_core.storage.objectstore import MemoryObjectStore

SNAP = bytes(32)


class Repo:
    """What merge_bases uses of a repository: its store's commits and its index."""

    def __init__(self, store, db):
        self.store = store
        self.index = CommitIndex(db, store)
        self.reads = 0

    def get_commit(self, oid):
        self.reads += 1
        c = self.store.get(oid)
        assert isinstance(c, Commit)
        return c


def build(spec):
    """A store holding the DAG `spec`: [(parent indexes, time_ms)] in creation order."""
    store, ids = MemoryObjectStore(), []
    for i, (ps, t) in enumerate(spec):
        c = Commit(parents=[ids[p] for p in ps], snapshot=SNAP, op="append", message=f"n{i}",
                   author="t", time_ms=t)
        store.write([c])
        ids.append(c.id)
    return store, ids


@st.composite
def dags(draw):
    """Up to 24 commits: new roots (unrelated histories), runs, merges of 2-3 earlier commits
    (criss-crosses); times increasing (often within one millisecond, as in a batch) or not."""
    n = draw(st.integers(2, 24))
    mode = draw(st.sampled_from(["monotone", "batch", "skewed"]))
    spec: list = []
    for i in range(n):
        k = 0 if i == 0 else draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))
        ps = sorted(draw(st.sets(st.integers(0, i - 1), min_size=min(k, i),
                                 max_size=min(k, i)))) if i else []
        base = max((spec[p][1] for p in ps), default=1000)
        if mode == "monotone":
            t = base + draw(st.integers(1, 3))
        elif mode == "batch":
            t = base + draw(st.sampled_from([0, 0, 1]))
        else:
            t = 1000 + draw(st.integers(-50, 50))
        spec.append((ps, t))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          min_size=1, max_size=6))
    return spec, pairs


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(dags())
def test_merge_bases_equal_the_index(case):
    spec, pairs = case
    store, ids = build(spec)
    with tempfile.TemporaryDirectory() as d:
        want = CommitIndex(os.path.join(d, "want.sqlite"), store)
        repo = Repo(store, os.path.join(d, "index.sqlite"))
        for i, j in pairs:           # the first pairs unindexed, later ones maybe indexed
            assert walks.merge_bases(repo, ids[i], ids[j]) == want.merge_bases(ids[i], ids[j])
        for oid in ids:
            repo.index.get(oid)      # every commit indexed: the generation-ordered walk
        for i, j in pairs:
            assert walks.merge_bases(repo, ids[i], ids[j]) == want.merge_bases(ids[i], ids[j])
        want.close()
        repo.index.close()


def test_the_walk_reads_only_commits_down_to_the_base(tmp_path):
    """A branch forked 50 commits back on a 300-commit history: the merge base comes from the
    commits between the tips and the fork, and the index is not built."""
    spec = [([i - 1] if i else [], 1000 + i) for i in range(250)]          # main to the fork
    spec += [([249 if i == 0 else 250 + i - 1], 2000 + i) for i in range(50)]   # main after it
    spec += [([249 if i == 0 else 300 + i - 1], 3000 + i) for i in range(5)]    # the branch
    store, ids = build(spec)
    repo = Repo(store, str(tmp_path / "index.sqlite"))
    assert walks.merge_bases(repo, ids[299], ids[304]) == [ids[249]]
    assert repo.reads <= 60 and not any(map(repo.index.has, ids))
    # batch-made history (one millisecond) too
    store, ids = build([([i - 1] if i else [], 5000) for i in range(100)] +
                       [([60], 5000), ([100], 5000)])
    repo = Repo(store, str(tmp_path / "batch.sqlite"))
    assert walks.merge_bases(repo, ids[99], ids[101]) == [ids[60]]
    assert not any(map(repo.index.has, ids))


@pytest.mark.parametrize("clock", ["back", "tie"])
def test_out_of_order_commits_are_answered_by_the_index(tmp_path, clock):
    """A parent newer than its child, or two bases of one millisecond: the index decides."""
    if clock == "back":   # 2's parent 1 is newer than 2; the walk meets it out of order
        spec = [([], 1000), ([0], 5000), ([1], 1001), ([2], 1002), ([1], 1003), ([3, 4], 1004)]
        a, b = 5, 4
    else:                 # criss-cross with both bases made in the same millisecond
        spec = [([], 1000), ([0], 1001), ([0], 1001), ([1, 2], 1002), ([2, 1], 1002)]
        a, b = 3, 4
    store, ids = build(spec)
    want = CommitIndex(str(tmp_path / "want.sqlite"), store).merge_bases(ids[a], ids[b])
    repo = Repo(store, str(tmp_path / "index.sqlite"))
    assert walks.merge_bases(repo, ids[a], ids[b]) == want
    assert repo.index.has(ids[a])      # (the index answered)
