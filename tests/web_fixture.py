"""A small multi-agent repository for the web viewer's tests (tests/test_web*.py): every view
has something to show."""

from __future__ import annotations

XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def build_web_repo(path: str) -> dict:
    """Make the repository at `path` (chars/4 token counting) and return the ids (hex) and
    names the tests look for."""
    from trace_core.repository import Repository
    repo = Repository.init(path, encoding="chars/4")
    repo.set_config("budget.max-tokens", "400")
    ids: dict = {}
    repo.system("You plan team offsites. Keep every budget figure.")
    repo.user("Plan a 2-day offsite in Lisbon for 12 people; budget 9000 EUR.")
    repo.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "search_flights", "arguments": '{"to": "LIS"}'}}]})
    repo.append({"role": "tool", "tool_call_id": "call_1",
                 "content": "Flights Berlin-Lisbon: 180 EUR return. " + "detail " * 200})
    ids["xss"] = repo.user(XSS).hex
    repo.assistant("Flights cost 180 EUR each; I will ask a researcher about venues.")
    repo.spawn("venues", task="Find a venue in Lisbon for 12 people under 2000 EUR.")
    kid = repo.agent("venues")
    kid.assistant("Casa do Rio seats 14 and costs 1500 EUR for two days.")
    ids["kid_tip"] = kid.head_commit().hex()
    kid.close()
    ids["collapse"] = repo.collapse("venues", strategy="final").hex
    for i in range(4):
        repo.user(f"Question {i}: what about dinner option {i}?")
        repo.assistant(f"Dinner option {i} costs {40 + i} EUR per person at place {i}.")
    ids["before_compress"] = repo.head_commit().hex()
    res = repo.compress("HEAD~8..HEAD", strategy="extractive")
    ids["compress"] = res.commit      # (hex)
    ids["dropped"] = repo.assistant("A draft answer that gets reset away.").hex
    repo.reset("HEAD~1", mode="hard")
    ids["final"] = repo.assistant("Final plan: flights 2160 EUR, Casa do Rio 1500 EUR.").hex
    repo.switch("side", create=True, start="HEAD~2")
    ids["side"] = repo.user("A side question on the side branch.").hex
    repo.switch("main")
    repo.close()
    return ids
