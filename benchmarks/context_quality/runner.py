"""The benchmark's command line: every arm on every task; a markdown table and JSON.

    python -m benchmarks.context_quality [--tasks 6] [--messages 150,400] [--budget 6000]
        [--seed 18] [--paraphrase] [--arms A,B] [--out FILE] [--base-url URL --model NAME]

Offline (the default) the scripted reader answers; with --base-url and --model a model behind
that OpenAI-compatible endpoint answers (key: $OPENAI_API_KEY, if set). A request that fails is
an "error" answer and the run carries on; it fails (exit 1) when the first FAIL_FAST requests
failed, so a run whose every request fails stops there. See docs/context-quality.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trace_core.errors import ProviderError, TraceError
from trace_core.llm.http import display_url
from trace_core.tokens import DEFAULT_ENCODING

from . import reader
from .arms import run_session, select
from .generator import MIN_MESSAGES, Question, Task, generate
from .scoring import ERROR, score, summarize, task_success

Asker = Callable[[str, Question], str]
Progress = Callable[[str], None]
FAIL_FAST = 3       # requests failed before any succeeded: the endpoint is down, stop there


@dataclass
class Requests:
    """LLM mode: how many requests were answered and how many failed."""

    answered: int = 0
    failed: int = 0

    def ask(self, asker: Asker, transcript: str, q: Question) -> dict:
        """The llm fields of one answer; a request that fails (ProviderError) is an "error"
        answer, unless the first FAIL_FAST requests all failed."""
        try:
            said = asker(transcript, q)
        except ProviderError as exc:
            self.failed += 1
            if not self.answered and self.failed >= FAIL_FAST:
                raise ProviderError(f"the first {self.failed} requests failed; the last: "
                                    f"{exc}") from None
            return {"llm_answer": None, "llm_error": str(exc), "llm_score": ERROR}
        self.answered += 1
        return {"llm_answer": said, "llm_score": score(said, q)}


def run(tasks: Sequence[Task], arms: Sequence[tuple[str, dict[str, str]]], budget: int,
        encoding: str | None = None, asker: Asker | None = None,
        progress: Progress | None = None, requests: Requests | None = None) -> list[dict]:
    """One record per arm: its config, its figures (scoring.summarize) and, per task, the
    prompt tokens, the final prompt's size, the commits by operation and every answer. With
    `asker` (llm mode) the figures score its answers, "reader" holds the reader's and
    `requests` counts the requests (ProviderError when the first FAIL_FAST failed)."""
    key = "llm_score" if asker else "score"
    requests = requests if requests is not None else Requests()
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
                        rec.update(requests.ask(asker, r.final_text, q))
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
              seed: int = 18, paraphrase: bool = False, arms: str | None = None,
              encoding: str | None = None, asker: Asker | None = None,
              progress: Progress | None = None, llm: dict | None = None) -> dict:
    """The whole benchmark as one JSON document (no timings: the same arguments give the same
    document)."""
    generated = generate(tasks, seed, *messages, paraphrase=paraphrase)
    chosen = select(arms)
    requests = Requests()
    results = run(generated, chosen, budget, encoding, asker, progress, requests)
    settings = {"tasks": tasks, "messages": list(messages), "budget": budget, "seed": seed,
                "paraphrase": paraphrase, "encoding": encoding or DEFAULT_ENCODING}
    if llm is not None:
        llm = {**llm, "requests_failed": requests.failed}
    return {"benchmark": "context-quality", "mode": "llm" if asker else "offline",
            "settings": settings, **({"llm": llm} if llm else {}),
            "questions": {t.name: [q.to_dict() for q in t.questions] for t in generated},
            "arms": results}


def _positive(kind: type) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not 0 < v < float("inf"):
            raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}" if kind is int
                                             else f"must be more than 0, got {text}")
        return v
    return parse


def _pair(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(",")
    try:
        pair = int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not MIN,MAX: {text!r}") from None
    if not MIN_MESSAGES <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"need {MIN_MESSAGES} <= MIN <= MAX, got {text}")
    return pair


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.context_quality",
                                 description=__doc__.split("\n\n")[0])
    count, seconds = _positive(int), _positive(float)
    ap.add_argument("--tasks", type=count, default=6, help="sessions (default 6)")
    ap.add_argument("--messages", type=_pair, default=(150, 400), metavar="MIN,MAX",
                    help=f"messages per session (default 150,400; MIN {MIN_MESSAGES} at least)")
    ap.add_argument("--budget", type=count, default=6000, help="token budget (default 6000)")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--paraphrase", action="store_true",
                    help="word the planted facts without the heuristics' words (wording.py)")
    ap.add_argument("--arms", help="comma-separated arms (default: all)")
    ap.add_argument("--encoding", help="token encoding (default: the repository default)")
    ap.add_argument("--out", help="write the JSON document to this file")
    ap.add_argument("--base-url", help="LLM mode: an OpenAI-compatible endpoint (…/v1)")
    ap.add_argument("--model", help="LLM mode: the model name")
    ap.add_argument("--max-tokens", type=count, default=128, help="LLM mode: answer limit")
    ap.add_argument("--timeout", type=seconds, default=120.0,
                    help="LLM mode: seconds a request")
    ap.add_argument("--retries", type=int, default=2, choices=range(0, 11), metavar="N",
                    help="LLM mode: retries of a failed request (default 2)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    if bool(args.base_url) != bool(args.model):
        ap.error("LLM mode needs both --base-url and --model")
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        ap.error(f"--out {args.out}: no such directory")

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    ask = None
    try:
        llm_info = None
        if args.base_url:
            from .llm import Asker, provider
            key = os.environ.get("OPENAI_API_KEY") or None       # never printed nor written
            ask = Asker(provider(args.base_url, args.model, key, args.timeout, args.retries),
                        args.max_tokens)
            # credentials in the URL's user info or query are never written
            llm_info = {"base_url": display_url(args.base_url), "model": args.model}
        doc = benchmark(tasks=args.tasks, messages=args.messages, budget=args.budget,
                        seed=args.seed, paraphrase=args.paraphrase, arms=args.arms,
                        encoding=args.encoding, asker=ask,
                        progress=progress, llm=llm_info)
    except ValueError as exc:
        ap.error(str(exc))
    except TraceError as exc:
        print(f"{ap.prog}: error: {exc}", file=sys.stderr)
        return 1
    if ask is not None:
        doc["llm"]["usage"] = ask.usage.to_meta()
        failed = doc["llm"]["requests_failed"]
        if failed:
            print(f"{ap.prog}: warning: {failed} of {ask.usage.calls + failed} requests "
                  "failed, scored \"error\" (llm_error in the JSON)", file=sys.stderr)
    print(table(doc["arms"]))
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1, sort_keys=True)
                f.write("\n")
        except OSError as exc:
            print(f"{ap.prog}: error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 1
    progress(f"{doc['mode']} run: {time.perf_counter() - started:.1f} s")
    return 0
