"""Exit demo: an OpenAI Agents SDK agent takes a wrong turn; `reset` removes it from the prompt.

    pip install -e '.[openai]'
    python examples/agents_sdk_rollback.py [REPO_DIR]

With OPENAI_API_KEY set the agent talks to the real API (model from OPENAI_MODEL, default
gpt-4.1-mini); without it a scripted model plays the same turns, offline.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile

from agents import Agent, Runner, function_tool, set_tracing_disabled

from trace_core import Repository
from trace_core.integrations.openai_agents import TraceSession


@function_tool
def lookup_flight(destination: str) -> str:
    """Look up a flight (the first call fails, as flaky tools do)."""
    lookup_flight.calls = getattr(lookup_flight, "calls", 0) + 1
    if lookup_flight.calls == 1:
        return "ERROR 503: upstream timeout"
    return f"TP1234 to {destination}, 09:40, 180 EUR"


def scripted_model():
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    def text(t):
        return ResponseOutputMessage(id="m", type="message", role="assistant", status="completed",
                                     content=[ResponseOutputText(type="output_text", text=t,
                                                                 annotations=[])])

    def call(i):
        return ResponseFunctionToolCall(id=f"f{i}", call_id=f"c{i}", type="function_call",
                                        name="lookup_flight",
                                        arguments=json.dumps({"destination": "Lisbon"}))

    class Scripted(Model):
        replies = [[text("Happy to help. Where to?")], [call(1)],
                   [text("Flights to Lisbon do not exist, sorry.")], [call(2)],
                   [text("Booked: TP1234 to Lisbon, 09:40.")]]

        async def get_response(self, *args, **kwargs):
            return ModelResponse(output=self.replies.pop(0), usage=Usage(), response_id=None)

        def stream_response(self, *args, **kwargs):
            raise NotImplementedError

    return Scripted()


async def main(path: str) -> None:
    set_tracing_disabled(not os.environ.get("OPENAI_API_KEY"))
    model = os.environ.get("OPENAI_MODEL", "gpt-4.1-mini") if os.environ.get("OPENAI_API_KEY") \
        else scripted_model()
    agent = Agent(name="travel", instructions="Book flights. Be brief.", model=model,
                  tools=[lookup_flight])
    exists = os.path.isdir(os.path.join(path, ".trace"))
    repo = Repository.open(path) if exists else Repository.init(path)
    session = TraceSession(repo, "travel-demo")

    await Runner.run(agent, "Hi, I need a flight.", session=session)
    clean = session.repo.head_commit()
    result = await Runner.run(agent, "Book me a flight to Lisbon.", session=session)
    print("agent (wrong turn):", result.final_output)

    # the failed tool call and the bad answer leave the prompt
    session.repo.reset(clean.hex(), "hard")
    result = await Runner.run(agent, "Book me a flight to Lisbon.", session=session)
    print("agent (after rollback):", result.final_output)

    prompt = json.dumps(session.repo.materialize("openai"))
    assert "ERROR 503" not in prompt and "do not exist" not in prompt
    n = len(session.repo.messages())
    print(f"\nThe prompt now holds {n} items and none of the wrong turn.")
    print(f"Inspect it: trace -C {path} --agent travel-demo log --oneline")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="trace-demo-")))
