"""Real-LLM mode: each question asked of a model over an OpenAI-compatible endpoint.

The model gets the same final prompt the scripted reader reads, as text (Trace's text rendering
of the truncated context: the provider layer sends text messages, and a transcript keeps tool
calls and outputs readable to any model), then the question; its answer is scored like the
reader's (scoring.py: the planted value must appear in it, no decoy may). Requests go through
trace_core.llm.OpenAICompatProvider (retries, timeouts, usage and cost); the API key is passed
in by the caller and never printed or written.
"""

from __future__ import annotations

from trace_core.llm import OpenAICompatProvider, Provider, Usage

from .generator import Question

SYSTEM = ("You answer questions about an AI agent's working session from its transcript "
          "alone. Reply with the exact value only (a number, name, path, time, version or "
          "identifier, written as in the transcript), or 'unknown' if the transcript does not "
          "say. When the transcript corrects a value, the latest value is the answer.")


def question_messages(transcript: str, question: str) -> list[dict]:
    return [{"role": "user", "content": f"<transcript>\n{transcript}</transcript>\n\n"
                                        f"Question: {question}"}]


class Asker:
    """Asks `provider` each question about a transcript; `usage` sums every call."""

    def __init__(self, provider: Provider, max_tokens: int | None = 128):
        self.provider, self.max_tokens = provider, max_tokens
        self.usage = Usage()

    def __call__(self, transcript: str, q: Question) -> str:
        r = self.provider.complete(question_messages(transcript, q.text), system=SYSTEM,
                                   max_tokens=self.max_tokens, temperature=0.0)
        self.usage.add(r)
        return r.text


def provider(base_url: str, model: str, api_key: str | None, timeout: float = 120.0,
             max_retries: int = 2) -> OpenAICompatProvider:
    return OpenAICompatProvider(base_url, model, api_key=api_key, timeout=timeout,
                                max_retries=max_retries)
