"""The benchmark's command line: every arm on every task; a markdown table and JSON.

    python -m benchmarks.context_quality [--tasks 6] [--messages 150,400] [--budget 6000]
        [--seed 18] [--arms A,B] [--out FILE] [--base-url URL --model NAME]

Offline (the default) the scripted reader answers; with --base-url and --model a model behind
that OpenAI-compatible endpoint answers (key: $OPENAI_API_KEY, if set). See
docs/context-quality.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from trace_core.tokens import DEFAULT_ENCODING

from . import reader
from .arms import run_session, select
from .generator import Question, Task, generate
from .scoring import score, summarize, task_success

Asker = Callable[[str, Question], str]
Progress = Callable[[str], None]


def run(tasks: Sequence[Task], arms: Sequence[tuple[str, dict[str, str]]], budget: int,
        encoding: str | None = None, asker: Asker | None = None,
        progress: Progress | None = None) -> list[dict]:
    """One record per arm: its config, its figures (scoring.summarize) and, per task, the
    prompt tokens, the final prompt's size, the commits by operation and every answer. With
    `asker` (llm mode) the figures score its answers and "reader" holds the reader's."""
    key = "llm_score" if asker else "score"
    out = []
    with tempfile.TemporaryDirectory(prefix="trace-context-quality-") as root:
        for a, (name, config) in enumerate(arms):
            started = time.perf_counter()
            per_task = []
            for t, task in enumerate(tasks):
                r = run_session(task, config, budget, os.path.join(root, f"{a}-{t}"), encoding)
                answers: dict[str, dict] = {}
                for q in task.questions:
                    got = reader.answer(r.final_text, q.id)
                    rec = {"must_know": q.must_know, "source": q.source, "answer": got,
                           "score": score(got, q)}
                    if asker is not None:
                        said = asker(r.final_text, q)
                        rec.update(llm_answer=said, llm_score=score(said, q))
                    answers[q.id] = rec
                per_task.append({
                    "task": task.name, "messages": len(task.messages), "steps": len(r.steps),
                    "tokens_sent": r.tokens_sent, "truncated_steps": r.truncated_steps,
                    "final_prompt_tokens": r.final_tokens,
                    "final_prompt_messages": len(r.final),
                    "final_prompt_dropped": r.final_dropped, "commits": r.ops,
                    "policy_failures": r.policy_failures,
                    "success": task_success(answers, key), "answers": answers})
            record = {"arm": name, "config": config, **summarize(per_task, key)}
            if asker is not None:
                record["reader"] = summarize(per_task, "score")
            record["per_task"] = per_task
            out.append(record)
            if progress:
                progress(f"{name}: {len(tasks)} tasks in {time.perf_counter() - started:.1f} s")
    return out


def table(arms: Sequence[dict]) -> str:
    """The markdown table of the arms' figures."""
    rows = ["| arm | tasks succeeded | facts retained (of N) | decoys answered | "
            "tokens sent per task | facts per 1k tokens |",
            "| --- | --- | --- | --- | --- | --- |"]
    for r in arms:
        rows.append(f"| {r['arm']} | {r['tasks_succeeded']} / {r['tasks']} | "
                    f"{r['facts_retained']} (of {r['facts_total']}) | {r['decoys_answered']} | "
                    f"{r['tokens_sent_per_task']:,} | {r['facts_per_1k_tokens']:.4g} |")
    return "\n".join(rows)


def benchmark(*, tasks: int = 6, messages: tuple[int, int] = (150, 400), budget: int = 6000,
              seed: int = 18, arms: str | None = None, encoding: str | None = None,
              asker: Asker | None = None, progress: Progress | None = None,
              llm: dict | None = None) -> dict:
    """The whole benchmark as one JSON document (no timings: the same arguments give the same
    document)."""
    generated = generate(tasks, seed, *messages)
    chosen = select(arms)
    results = run(generated, chosen, budget, encoding, asker, progress)
    settings = {"tasks": tasks, "messages": list(messages), "budget": budget, "seed": seed,
                "encoding": encoding or DEFAULT_ENCODING}
    return {"benchmark": "context-quality", "mode": "llm" if asker else "offline",
            "settings": settings, **({"llm": llm} if llm else {}),
            "questions": {t.name: [q.to_dict() for q in t.questions] for t in generated},
            "arms": results}


def _pair(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(",")
    return int(lo), int(hi or lo)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.context_quality",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=6, help="sessions (default 6)")
    ap.add_argument("--messages", type=_pair, default=(150, 400), metavar="MIN,MAX",
                    help="messages per session (default 150,400)")
    ap.add_argument("--budget", type=int, default=6000, help="token budget (default 6000)")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--arms", help="comma-separated arms (default: all)")
    ap.add_argument("--encoding", help="token encoding (default: the repository default)")
    ap.add_argument("--out", help="write the JSON document to this file")
    ap.add_argument("--base-url", help="LLM mode: an OpenAI-compatible endpoint (…/v1)")
    ap.add_argument("--model", help="LLM mode: the model name")
    ap.add_argument("--max-tokens", type=int, default=128, help="LLM mode: answer limit")
    ap.add_argument("--timeout", type=float, default=120.0, help="LLM mode: seconds a request")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    if bool(args.base_url) != bool(args.model):
        ap.error("LLM mode needs both --base-url and --model")
    asker, llm_info, ask = None, None, None
    if args.base_url:
        from .llm import Asker, provider
        key = os.environ.get("OPENAI_API_KEY") or None       # never printed nor written
        ask = Asker(provider(args.base_url, args.model, key, args.timeout), args.max_tokens)
        asker, llm_info = ask, {"base_url": args.base_url, "model": args.model}

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    try:
        doc = benchmark(tasks=args.tasks, messages=args.messages, budget=args.budget,
                        seed=args.seed, arms=args.arms, encoding=args.encoding, asker=asker,
                        progress=progress, llm=llm_info)
    except ValueError as exc:
        ap.error(str(exc))
    if ask is not None:
        doc["llm"]["usage"] = ask.usage.to_meta()
    print(table(doc["arms"]))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.write("\n")
    progress(f"{doc['mode']} run: {time.perf_counter() - started:.1f} s")
    return 0
