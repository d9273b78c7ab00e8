"""The LLM provider layer against a local scripted HTTP server (no network, no real provider)."""

from __future__ import annotations

import json
import os

import pytest
from conftest import (
    anthropic_ok,
    assert_one_line_error,
    closed_port,
    drip,
    hang,
    invoke_cli,
    openai_ok,
    reply,
)

from trace_core.errors import (
    ConfigError,
    InputError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderUnavailable,
)
from trace_core.llm import (
    AnthropicProvider,
    ChatResult,
    OpenAICompatProvider,
    PriceTable,
    Provider,
    Usage,
    prices_from_config,
    provider_from_config,
)

KEY = "sk-test-SECRET-0123456789"


class Sleeps(list):
    def __call__(self, secs):
        self.append(secs)


def openai(llm_server, **kw):
    kw.setdefault("api_key", KEY)
    kw.setdefault("sleep", Sleeps())
    return OpenAICompatProvider(llm_server.url + "/v1", "gpt-test", **kw)


def anthropic(llm_server, **kw):
    kw.setdefault("api_key", KEY)
    kw.setdefault("sleep", Sleeps())
    return AnthropicProvider(llm_server.url, "claude-test", **kw)


USER = [{"role": "user", "content": "Summarize: the cat sat."}]


# ---------------------------------------------------------------------------------------------
# Wire protocols


def test_openai_request_and_result(llm_server):
    llm_server.script = [reply(200, openai_ok())]
    prov = openai(llm_server, prices={"gpt-test": (2.0, 8.0)}, max_tokens=50)
    assert isinstance(prov, Provider)
    r = prov.complete(USER, system="Be brief.", temperature=0.5)
    assert (r.text, r.provider, r.model, r.finish_reason) == \
        ("hello", "openai", "gpt-test-2024", "stop")
    assert (r.prompt_tokens, r.completion_tokens, r.usage_reported) == (12, 3, True)
    assert r.cost_usd == pytest.approx((12 * 2.0 + 3 * 8.0) / 1e6)
    assert r.latency_ms >= 0
    [req] = llm_server.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert req["headers"]["content-type"] == "application/json"
    assert req["body"] == {"model": "gpt-test", "temperature": 0.5, "max_tokens": 50,
                           "messages": [{"role": "system", "content": "Be brief."}] + USER}
    assert r.to_meta() == {"provider": "openai", "model": "gpt-test-2024", "prompt_tokens": 12,
                           "completion_tokens": 3, "cost_usd": r.cost_usd}


def test_openai_without_key_or_limit_sends_neither(llm_server):
    llm_server.script = [reply(200, openai_ok())]
    r = OpenAICompatProvider(llm_server.url + "/v1/", "gpt-test").complete(USER, max_tokens=7)
    [req] = llm_server.requests
    assert "authorization" not in req["headers"]
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["max_tokens"] == 7
    assert r.cost_usd is None                       # no price for the model
    llm_server.script = [reply(200, openai_ok())]
    OpenAICompatProvider(llm_server.url + "/v1", "gpt-test").complete(USER)
    assert "max_tokens" not in llm_server.requests[1]["body"]


def test_anthropic_request_and_result(llm_server):
    llm_server.script = [reply(200, {**anthropic_ok(), "content": [
        {"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "hi "},
        {"type": "text", "text": "there"}]})]
    prov = anthropic(llm_server, prices=PriceTable({"claude-test": (3.0, 15.0)}))
    r = prov.complete([{"role": "system", "content": "Second rule."}] + USER +
                      [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "go"}],
                      system="First rule.")
    assert (r.text, r.provider, r.model, r.finish_reason) == ("hi there", "anthropic",
                                                              "claude-test", "end_turn")
    assert (r.prompt_tokens, r.completion_tokens) == (20, 5)
    assert r.cost_usd == pytest.approx((20 * 3.0 + 5 * 15.0) / 1e6)
    [req] = llm_server.requests
    assert req["path"] == "/v1/messages"
    h = req["headers"]
    assert h["x-api-key"] == KEY and h["anthropic-version"] == "2023-06-01"
    assert "authorization" not in h
    body = req["body"]
    assert body["system"] == "First rule.\n\nSecond rule."
    assert body["max_tokens"] == 1024 and body["model"] == "claude-test"
    assert body["messages"] == USER + [{"role": "assistant", "content": "ok"},
                                       {"role": "user", "content": "go"}]


def test_anthropic_base_url_with_v1_and_max_tokens(llm_server):
    llm_server.script = [reply(200, anthropic_ok())]
    prov = AnthropicProvider(llm_server.url + "/v1", "claude-test", KEY, max_tokens=300)
    prov.complete(USER)
    llm_server.script = [reply(200, anthropic_ok())]
    prov.complete(USER, max_tokens=9)
    assert [q["path"] for q in llm_server.requests] == ["/v1/messages", "/v1/messages"]
    assert [q["body"]["max_tokens"] for q in llm_server.requests] == [300, 9]
    assert "system" not in llm_server.requests[0]["body"]


def test_empty_text_is_a_result_missing_content_is_not(llm_server):
    llm_server.script = [reply(200, openai_ok(text="")),
                         reply(200, {**anthropic_ok(), "content": []})]
    assert openai(llm_server).complete(USER).text == ""
    assert anthropic(llm_server).complete(USER).text == ""


def test_missing_usage_is_recorded_as_unreported(llm_server):
    doc = openai_ok()
    del doc["usage"]
    llm_server.script = [reply(200, doc)]
    r = openai(llm_server, prices={"gpt-test": (1.0, 1.0)}).complete(USER)
    assert (r.prompt_tokens, r.completion_tokens, r.usage_reported, r.cost_usd) == \
        (0, 0, False, None)


# ---------------------------------------------------------------------------------------------
# Retries and failures


def test_500_then_success_retries_with_backoff(llm_server):
    llm_server.script = [reply(500, {"error": {"message": "boom"}}), reply(503, b"busy"),
                     reply(200, openai_ok())]
    sleeps = Sleeps()
    r = openai(llm_server, sleep=sleeps).complete(USER)
    assert r.text == "hello"
    assert sleeps == [0.5, 1.0]
    assert len(llm_server.requests) == 3


def test_5xx_until_retries_are_spent(llm_server):
    llm_server.script = [reply(502, {"error": {"message": "bad gateway"}})] * 3
    sleeps = Sleeps()
    with pytest.raises(ProviderUnavailable) as ei:
        openai(llm_server, sleep=sleeps, max_retries=2).complete(USER)
    msg = str(ei.value)
    assert "HTTP 502" in msg and "bad gateway" in msg and "3 attempts" in msg
    assert sleeps == [0.5, 1.0] and len(llm_server.requests) == 3


def test_429_honours_retry_after_capped(llm_server):
    llm_server.script = [reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"}),
                     reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "100000"}),
                     reply(429, b"", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
                     reply(200, anthropic_ok())]
    sleeps = Sleeps()
    anthropic(llm_server, sleep=sleeps, max_retries=3).complete(USER)
    assert sleeps == [7.0, 60.0, 2.0]       # numeric, capped at 60 s, a date: backoff 0.5*2**2


@pytest.mark.parametrize("status,body,expect", [
    (401,
     {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error"}},
     "Incorrect API key provided: [redacted]"),
    (400, {"type": "error", "error": {"type": "invalid_request_error",
                                      "message": "max_tokens: must be positive"}},
     "max_tokens: must be positive"),
    (404, {"error": "model 'nope' not found"}, "model 'nope' not found"),
    (422, b"plain text problem", "plain text problem"),
])
def test_4xx_fails_at_once_with_the_providers_message(llm_server, status, body, expect):
    llm_server.script = [reply(status, body)]
    sleeps = Sleeps()
    with pytest.raises(ProviderHTTPError) as ei:
        openai(llm_server, sleep=sleeps).complete(USER)
    msg = str(ei.value)
    assert f"HTTP {status}" in msg and expect in msg
    assert KEY not in msg and "\n" not in msg
    assert sleeps == [] and len(llm_server.requests) == 1


def test_redirect_is_not_followed(llm_server):
    llm_server.script = [reply(301, b"", {"Location": "http://elsewhere/"})]
    with pytest.raises(ProviderHTTPError, match="HTTP 301.*redirects are not followed"):
        openai(llm_server).complete(USER)


@pytest.mark.parametrize("make,doc,expect", [
    ("openai", b"<html>oops</html>", "not JSON"),
    ("openai", b"\xff\xfe\x00garbage", "not JSON"),
    ("openai", [1, 2], "must be a JSON object"),
    ("openai", {"choices": []}, "no 'choices'"),
    ("openai", {"choices": [{"message": "hi"}]}, "no 'message'"),
    ("openai", {"choices": [{"message": {"role": "assistant", "content": None}}]}, "no 'content'"),
    ("openai", {"choices": [{"message": {"content": None, "refusal": "I can't"}}]},
     "refused: I can't"),
    ("openai", {**openai_ok(), "usage": {"prompt_tokens": "12", "completion_tokens": 3}},
     "usage.prompt_tokens"),
    ("anthropic", {"type": "message", "content": "text"}, "no 'content' list"),
    ("anthropic", {"content": [{"type": "text"}]}, "no 'text' string"),
    ("anthropic", {**anthropic_ok(), "usage": {"input_tokens": -1, "output_tokens": 2}},
     "usage.input_tokens"),
])
def test_malformed_responses(llm_server, make, doc, expect):
    llm_server.script = [reply(200, doc)]
    sleeps = Sleeps()
    make_provider = openai if make == "openai" else anthropic
    prov = make_provider(llm_server, sleep=sleeps)
    with pytest.raises(ProviderResponseError, match=expect):
        prov.complete(USER)
    assert sleeps == [] and len(llm_server.requests) == 1


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_response(llm_server, chunked):
    llm_server.script = [reply(200, openai_ok(text="x" * 5000), chunked=chunked)]
    with pytest.raises(ProviderResponseError, match="over the limit of 1000 bytes"):
        openai(llm_server, max_response_bytes=1000).complete(USER)
    llm_server.script = [reply(200, openai_ok(text="x" * 500), chunked=chunked)]
    assert openai(llm_server, max_response_bytes=1000).complete(USER).text == "x" * 500


def test_server_that_never_answers_times_out(llm_server):
    llm_server.script = [hang, hang]
    sleeps = Sleeps()
    with pytest.raises(ProviderUnavailable, match=r"did not answer within 0.3 s.*2 attempts"):
        openai(llm_server, timeout=0.3, max_retries=1, sleep=sleeps).complete(USER)
    assert sleeps == [0.5] and len(llm_server.requests) == 2


def test_server_that_trickles_is_cut_at_the_deadline(llm_server):
    llm_server.script = [drip(openai_ok(text="y" * 60))]     # ~5 s of dripping if not cut
    with pytest.raises(ProviderUnavailable, match="did not answer within 0.3 s"):
        openai(llm_server, timeout=0.3, max_retries=0).complete(USER)


def test_connection_refused():
    sleeps = Sleeps()
    prov = OpenAICompatProvider(f"http://user:pw@127.0.0.1:{closed_port()}/v1?api-key=zz",
                                "m", api_key=KEY, max_retries=1, sleep=sleeps)
    with pytest.raises(ProviderUnavailable, match="refused the connection") as ei:
        prov.complete(USER)
    assert sleeps == [0.5]
    msg = str(ei.value)
    assert "pw" not in msg and "zz" not in msg and KEY not in msg


def test_unresolvable_host_is_not_retried():
    sleeps = Sleeps()
    prov = OpenAICompatProvider("http://no-such-host.invalid/v1", "m", sleep=sleeps)
    with pytest.raises(ProviderUnavailable, match="cannot resolve"):
        prov.complete(USER)
    assert sleeps == []


# ---------------------------------------------------------------------------------------------
# Arguments, key hygiene, accounting


@pytest.mark.parametrize("messages,kw,expect", [
    ([], {}, "non-empty list"),
    ("hi", {}, "non-empty list"),
    ([{"role": "tool", "content": "x"}], {}, "role must be one of"),
    ([{"role": "user", "content": ["x"]}], {}, "content must be a string"),
    ([{"role": "system", "content": "x"}], {}, "at least one user or assistant"),
    (USER, {"temperature": 3}, "temperature"),
    (USER, {"max_tokens": 0}, "max_tokens"),
    (USER, {"system": 5}, "system must be a string"),
])
def test_bad_arguments_send_nothing(llm_server, messages, kw, expect):
    with pytest.raises(InputError, match=expect):
        openai(llm_server).complete(messages, **kw)
    assert llm_server.requests == []


@pytest.mark.parametrize("kw,expect", [
    ({"base_url": "ftp://x"}, "http:// or https://"),
    ({"base_url": "localhost:8000"}, "http:// or https://"),
    ({"model": " "}, "model name"),
    ({"timeout": 0}, "timeout"),
    ({"max_retries": -1}, "max_retries"),
    ({"api_key": KEY + "\n"}, "API key must be"),
])
def test_bad_settings(kw, expect):
    args = {"base_url": "http://127.0.0.1:1/v1", "model": "m", **kw}
    with pytest.raises(ConfigError, match=expect) as ei:
        OpenAICompatProvider(**args)
    assert KEY not in str(ei.value)


def test_key_never_shown(llm_server):
    prov = anthropic(llm_server)
    assert KEY not in repr(prov) and KEY not in str(prov)
    llm_server.script = [reply(200, anthropic_ok())]
    r = prov.complete(USER)
    assert KEY not in repr(r) and KEY not in json.dumps(r.to_meta())


def test_usage_totals():
    def res(p, c, cost):
        return ChatResult("t", "openai", "m", p, c, cost, "stop", 1)
    u = Usage()
    assert u.to_meta() == {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
                           "cost_usd": 0.0, "priced": True}
    u.add(res(10, 2, 0.25))
    u.add(res(5, 1, 0.5))
    assert u.to_meta() == {"calls": 2, "prompt_tokens": 15, "completion_tokens": 3,
                           "cost_usd": 0.75, "priced": True}
    u.add(res(1, 1, None))
    assert (u.calls, u.cost_usd, u.priced) == (3, 0.75, False)
    json.dumps(u.to_meta())


def test_price_table():
    t = PriceTable({"a": (2.5, 10), "b": (0, 0)})
    assert t.cost("a", 1_000_000, 100_000) == pytest.approx(3.5)
    assert t.cost("b", 10, 10) == 0.0
    assert t.cost("c", 10, 10) is None
    assert "a" in t and len(t) == 2
    for bad in ({"a": (1,)}, {"a": (-1, 1)}, {"a": (float("nan"), 1)}, {"": (1, 1)}):
        with pytest.raises(ConfigError):
            PriceTable(bad)


# ---------------------------------------------------------------------------------------------
# Factory


def _trusted(repo):
    """`repo` opened by a Python caller that trusts it (docs/security.md): its llm.provider and
    llm.base-url take effect."""
    from trace_core.repository import Repository
    return Repository.open(repo.trace_dir, trusted=True)


def test_factory_from_repository_config(repo, llm_server):
    r = _trusted(repo)
    for k, v in [("llm.provider", "openai"), ("llm.model", "gpt-test"),
                 ("llm.base-url", llm_server.url + "/v1"), ("llm.timeout", "5"),
                 ("llm.max-retries", "1"), ("llm.max-tokens", "64"),
                 ("price.gpt-test.prompt", "1.5"), ("price.gpt-test.completion", "6")]:
        r.set_config(k, v)
    sleeps = Sleeps()
    prov = provider_from_config(r.config, KEY, sleep=sleeps)
    assert isinstance(prov, OpenAICompatProvider)
    assert (prov.model, prov.timeout, prov.max_retries, prov.max_tokens) == ("gpt-test", 5.0, 1, 64)
    llm_server.script = [reply(500, b"x"), reply(200, openai_ok(p=1000, c=100))]
    res = prov.complete(USER)
    assert sleeps == [0.5]
    assert res.cost_usd == pytest.approx((1000 * 1.5 + 100 * 6) / 1e6)
    assert llm_server.requests[-1]["body"]["max_tokens"] == 64
    assert llm_server.requests[-1]["headers"]["authorization"] == f"Bearer {KEY}"

    r.set_config("llm.provider", "anthropic")
    r.set_config("llm.model", "claude-test")
    r.set_config("llm.base-url", llm_server.url)
    with pytest.raises(ConfigError, match="no Anthropic API key: set the ANTHROPIC_API_KEY"):
        provider_from_config(r.config, None)
    prov = provider_from_config(r.config, KEY)
    assert isinstance(prov, AnthropicProvider) and prov.max_tokens == 64


def test_factory_defaults_and_errors(repo):
    r = _trusted(repo)
    with pytest.raises(ConfigError, match="no LLM provider configured"):
        provider_from_config(r.config, None)
    r.set_config("llm.provider", "offline")
    with pytest.raises(ConfigError, match="offline.*deterministic"):
        provider_from_config(r.config, None)
    r.set_config("llm.provider", "anthropic")
    with pytest.raises(ConfigError, match="llm.model is unset"):
        provider_from_config(r.config, None)
    r.set_config("llm.model", "claude-x")
    prov = provider_from_config(r.config, KEY)
    assert prov.base_url == "https://api.anthropic.com"
    assert (prov.timeout, prov.max_retries, prov.max_tokens) == (60.0, 2, 1024)
    r.set_config("price.claude-x.prompt", "3")
    with pytest.raises(ConfigError, match="price.claude-x.completion is unset"):
        provider_from_config(r.config, KEY)
    r.set_config("price.claude-x.completion", "15")
    r.set_config("price.other/model-1.5.prompt", "1")
    r.set_config("price.other/model-1.5.completion", "2")
    t = prices_from_config(r.config)
    assert t.get("claude-x") == (3.0, 15.0) and t.get("other/model-1.5") == (1.0, 2.0)


# ---------------------------------------------------------------------------------------------
# CLI: trace llm complete / config (in-process through the entry point, and one real process
# with the key only in its environment)

NO_KEYS = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "MY_LLM_KEY": ""}


def _wd(repo) -> str:
    return os.path.dirname(repo.trace_dir)


def _trusting(repo) -> dict:
    """The environment of a user whose global config trusts `repo` (its own file, beside it)."""
    path = os.path.join(os.path.dirname(_wd(repo)), "user-config")
    with open(path, "w") as f:
        f.write(f"[safe]\n\tdirectory = {repo.trace_dir}\n")
    return {"TRACE_CONFIG_GLOBAL": path}


def test_cli_complete_openai(repo, llm_server):
    r = repo
    for k, v in [("llm.provider", "openai"), ("llm.model", "gpt-test"),
                 ("llm.base-url", llm_server.url + "/v1"), ("price.gpt-test.prompt", "2"),
                 ("price.gpt-test.completion", "8")]:
        r.set_config(k, v)
    llm_server.script = [reply(200, openai_ok(text="The cat sat.", p=1000, c=500))]
    trust = _trusting(r)
    p = invoke_cli("llm", "complete", "--system", "Be brief.", "Summarize", cwd=_wd(r),
            env={**NO_KEYS, **trust, "OPENAI_API_KEY": KEY})
    assert p.returncode == 0, p.stderr
    assert p.stdout == "The cat sat.\n"
    assert p.stderr == "tokens: 1000 prompt + 500 completion, cost $0.006000\n"
    req = llm_server.requests[0]
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    assert req["body"]["messages"] == [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Summarize"}]
    assert req["body"]["max_tokens"] == 1024

    llm_server.script = [reply(200, openai_ok(text="x", model="other"))]
    r.unset_config("price.gpt-test.prompt")
    r.unset_config("price.gpt-test.completion")
    p = invoke_cli("-c", "llm.api-key-env=MY_LLM_KEY", "llm", "complete", "--json",
                   "--max-tokens", "5", "hi", cwd=_wd(r),
                   env={**NO_KEYS, **trust, "MY_LLM_KEY": "other-key"})
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["text"] == "x" and doc["model"] == "other" and doc["cost_usd"] is None
    assert (doc["provider"], doc["prompt_tokens"], doc["completion_tokens"]) == ("openai", 12, 3)
    assert llm_server.requests[1]["headers"]["authorization"] == "Bearer other-key"
    assert llm_server.requests[1]["body"]["max_tokens"] == 5

    llm_server.script = [reply(200, openai_ok(text="local"))]
    p = invoke_cli("llm", "complete", "hi", cwd=_wd(r), env={**NO_KEYS, **trust})  # no key
    assert p.returncode == 0 and p.stdout == "local\n"
    assert p.stderr.endswith("cost unknown\n")
    assert "authorization" not in llm_server.requests[2]["headers"]


def test_cli_complete_anthropic_reads_prompt_from_stdin(repo, llm_server, cli):
    r = repo
    for k, v in [("llm.provider", "anthropic"), ("llm.model", "claude-test"),
                 ("llm.base-url", llm_server.url)]:
        r.set_config(k, v)
    llm_server.script = [reply(200, anthropic_ok(text="ok"))]
    p = cli("llm", "complete", "--system", "S", "-", cwd=_wd(r), input="from stdin",
            env={**NO_KEYS, **_trusting(r), "ANTHROPIC_API_KEY": KEY})
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok\n"
    body = llm_server.requests[0]["body"]
    assert body["system"] == "S" and body["messages"] == [{"role": "user", "content": "from stdin"}]
    assert llm_server.requests[0]["headers"]["x-api-key"] == KEY


def _one_line_error(p, *needles, code=1):
    assert_one_line_error(p, *needles, code=code)
    assert p.stdout == "" and KEY not in p.stderr


def test_cli_errors(repo, llm_server):
    r = repo
    env = {**NO_KEYS, **_trusting(r), "OPENAI_API_KEY": KEY}
    _one_line_error(invoke_cli("llm", "complete", "hi", cwd=_wd(r), env=env),
                    "no LLM provider configured")
    r.set_config("llm.provider", "offline")
    _one_line_error(invoke_cli("llm", "complete", "hi", cwd=_wd(r), env=env), "offline",
                    "deterministic")
    r.set_config("llm.provider", "anthropic")
    r.set_config("llm.model", "claude-test")
    _one_line_error(invoke_cli("llm", "complete", "hi", cwd=_wd(r), env={**env, **NO_KEYS}),
                    "no Anthropic API key", "ANTHROPIC_API_KEY")
    r.set_config("llm.provider", "openai")
    r.set_config("llm.max-retries", "0")
    r.set_config("llm.base-url", f"http://127.0.0.1:{closed_port()}/v1")
    _one_line_error(invoke_cli("llm", "complete", "hi", cwd=_wd(r), env=env),
                    "refused the connection")
    r.set_config("llm.base-url", llm_server.url + "/v1")
    llm_server.script = [reply(401, {"error": {"message": f"bad key {KEY}"}})]
    _one_line_error(invoke_cli("llm", "complete", "hi", cwd=_wd(r), env=env), "HTTP 401", "bad key")
    _one_line_error(invoke_cli("llm", "complete", " ", cwd=_wd(r), env=env), "prompt is empty",
                    code=2)


def test_cli_config_shows_where_the_key_is_never_the_key(repo):
    r = repo
    p = invoke_cli("llm", "config", cwd=_wd(r), env=NO_KEYS)
    assert p.returncode == 0 and "provider:    (unset)" in p.stdout
    r.set_config("llm.provider", "anthropic")
    r.set_config("llm.model", "claude-test")
    env = {**NO_KEYS, **_trusting(r), "ANTHROPIC_API_KEY": KEY}
    p = invoke_cli("llm", "config", cwd=_wd(r), env=env)
    assert p.returncode == 0
    assert "base-url:    https://api.anthropic.com" in p.stdout
    assert "$ANTHROPIC_API_KEY (set)" in p.stdout and KEY not in p.stdout
    assert "repository:  trusted" in p.stdout
    r.set_config("price.claude-test.prompt", "3")
    r.set_config("price.claude-test.completion", "15")
    p = invoke_cli("-c", "llm.api-key-env=MY_LLM_KEY", "llm", "config", "--json", cwd=_wd(r),
                   env=env)
    doc = json.loads(p.stdout)
    assert (doc["api_key_env"], doc["api_key_set"]) == ("MY_LLM_KEY", False)
    assert doc["prices"] == {"claude-test": {"prompt": 3.0, "completion": 15.0}}
    assert (doc["timeout"], doc["max_retries"], doc["max_tokens"]) == (60.0, 2, 1024)
