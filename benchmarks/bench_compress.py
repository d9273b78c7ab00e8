"""Compression benchmarks (issue 5): `mask` and `extractive` over a 5,000-entry range.

    python benchmarks/bench_compress.py [--entries 5000] [--repeat 3] [--json FILE]

History: a system prompt, then `entries` messages in turns of four: a user request, an assistant
tool call, a tool output (~1.5 KB of test-runner log) and an assistant answer; one commit per
message, built with one transaction. The range is every commit after the system prompt
(`HEAD~entries`). For each case the repository is copied fresh from the built one, opened, and
`trace_core.compress.compress` runs in process (the token counts of the stored messages are
cached in the index, as after a real session; the tokenizer is loaded before timing). Measured:
the compression's wall time (median of `repeat` runs, each on a fresh copy), tokens before and
after in the context, the commit's size in bytes, and materializing the result: cold (a fresh
Repository) and warm (a second call), against the same before compression; then cold again after
sealing the journal the compression wrote into a pack (as `trace repack` or the next auto-seal
does). Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from run import materialize_ms  # noqa: E402

CASES = [
    ("mask", {"strategy": "mask", "keep_last": 10}),
    ("extractive, range", {"strategy": "extractive", "granularity": "range"}),
    ("extractive, turn", {"strategy": "extractive", "granularity": "turn"}),
    ("extractive, episode", {"strategy": "extractive", "granularity": "episode",
                             "episode_tokens": 4000}),
]


def session(n: int) -> list:
    out = []
    for i in range(n):
        t, k = divmod(i, 4)
        if k == 0:
            out.append({"role": "user", "content": f"Step {t}: test_case_{t} in module_{t % 50}.py "
                        f"fails with error E{t % 97:03d}; find the cause and fix it."})
        elif k == 1:
            out.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{t}", "type": "function",
                 "function": {"name": "run_tests",
                              "arguments": json.dumps({"k": f"test_case_{t}"})}}]})
        elif k == 2:
            log = "".join(f"tests/test_module_{t % 50}.py::test_case_{t}_{j} PASSED [{j * 3}%]\n"
                          for j in range(18))
            out.append({"role": "tool", "tool_call_id": f"call_{t}", "name": "run_tests",
                        "content": log + f"FAILED test_case_{t} - AssertionError: "
                                         f"expected {t} got {t + 1}\n"})
        else:
            out.append({"role": "assistant",
                        "content": f"The failure of test_case_{t} comes from an "
                        f"off-by-one in count_{t}() in module_{t % 50}.py; I changed the loop "
                        "bound and the test passes now."})
    return out


def build(root: str, n: int) -> str:
    from trace_core.repository import Repository
    path = os.path.join(root, "built")
    repo = Repository.init(path)
    with repo.transaction():
        repo.system("You are a coding agent working in a Python repository.")
        for m in session(n):
            repo.append(m)
    repo.flush_token_cache()
    repo.close()
    return path


def run_case(built: str, root: str, n: int, kw: dict, repeat: int) -> dict:
    from trace_core.compress import compress
    from trace_core.repository import Repository
    times, result, path = [], None, None
    for k in range(repeat):
        path = os.path.join(root, f"case{k}")
        shutil.rmtree(path, ignore_errors=True)
        shutil.copytree(built, path)
        repo = Repository.open(path)
        repo.token_counter().count_text("warm up")      # the tokenizer loads outside the timing
        t = time.perf_counter()
        result = compress(repo, f"HEAD~{n}", **kw)
        times.append(time.perf_counter() - t)
        commit_bytes = len(repo.get_commit(repo.head_commit()).to_bytes())
        repo.close()
    cold, warm, _kept = materialize_ms(path, repeat)
    from trace_core.storage.repack import seal_idle_journals
    repo = Repository.open(path)
    seal_idle_journals(repo.store)       # what the next auto-seal or `trace repack` does
    repo.close()
    sealed, _, _ = materialize_ms(path, repeat)
    return {"materialize_sealed_cold_ms": sealed, "seconds": statistics.median(times),
            "tokens_before": result.tokens_before,
            "tokens_after": result.tokens_after, "saved": result.saved_tokens,
            "ratio_after": result.tokens_after / result.tokens_before,
            "summaries": len(result.summaries), "masked": len(result.masked),
            "commit_bytes": commit_bytes, "materialize_cold_ms": cold,
            "materialize_warm_ms": warm}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    root = tempfile.mkdtemp(prefix="trace-bench-compress-")
    try:
        t = time.perf_counter()
        built = build(root, args.entries)
        out = {"entries": args.entries, "build_seconds": time.perf_counter() - t}
        out["before"] = dict(zip(("materialize_cold_ms", "materialize_warm_ms",
                                  "materialize_kept_ms"),
                                 materialize_ms(built, args.repeat), strict=True))
        for name, kw in CASES:
            out[name] = run_case(built, root, args.entries, kw, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


def report(r: dict) -> None:
    print(f"compress a {r['entries']}-entry range (built in {r['build_seconds']:.1f} s); "
          f"materialize before: {r['before']['materialize_cold_ms']:.1f} cold / "
          f"{r['before']['materialize_warm_ms']:.1f} warm ms\n")
    print(f"{'case':<22} {'time':>8} {'tokens before':>14} {'after':>9} {'saved':>6} "
          f"{'summaries':>9} {'masked':>6} {'commit':>9} {'materialize cold/warm/sealed':>28}")
    for name, _ in CASES:
        c = r[name]
        print(f"{name:<22} {c['seconds'] * 1e3:>6.0f}ms {c['tokens_before']:>14} "
              f"{c['tokens_after']:>9} {100 * (1 - c['ratio_after']):>5.1f}% {c['summaries']:>9} "
              f"{c['masked']:>6} {c['commit_bytes'] / 1024:>7.0f}KB "
              f"{c['materialize_cold_ms']:>9.1f} / {c['materialize_warm_ms']:.1f} / "
              f"{c['materialize_sealed_cold_ms']:.1f} ms")


if __name__ == "__main__":
    main()
