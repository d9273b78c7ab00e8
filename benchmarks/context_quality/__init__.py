"""Context quality: an A/B benchmark of unmanaged (append-only, truncated) against managed
(Trace's policy engine) context windows on generated agent sessions (docs/context-quality.md).

    generator.py   seeded agent sessions with planted facts, decoys and their questions
    wording.py     how the facts are worded: the defaults, and the paraphrases (--paraphrase)
    prompt.py      the prompt sent at a model step: truncation at the budget, tokens, text
    arms.py        the arms (name + config keys) and one session run through one arm
    reader.py      the scripted reader: answers each question from the prompt text alone
    scoring.py     right / decoy / wrong / unknown, task success, the per-arm summary
    llm.py         real-LLM mode: each question asked of an OpenAI-compatible endpoint
    runner.py      the command line: runs every arm on every task, prints the table, writes JSON

    python -m benchmarks.context_quality [--paraphrase] [--out FILE] [--base-url URL --model NAME]
"""
