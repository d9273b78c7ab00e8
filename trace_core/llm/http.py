"""POST a JSON body, get a JSON body back: one deadline per attempt, retries with backoff.

Only the standard library (http.client). Every failure becomes a ProviderError:

- ProviderUnavailable: connection refused, DNS, TLS, timeouts, a dropped connection, and
  HTTP 408/429/5xx once the retries are spent (they are retried, the others are not);
- ProviderHTTPError: any other status that is not 2xx (4xx, redirects), at once;
- ProviderResponseError: a 2xx body that is not a JSON object or is over `max_response_bytes`.

`timeout` bounds the whole attempt (connect, send, status line, headers and body): every socket
operation gets the time that is left, and a watchdog shuts the socket down at the deadline, so a
server that trickles bytes cannot hold a request open either. Secrets passed in `secrets` are
replaced by "[redacted]" in every message this module builds.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..config import default
from ..errors import ConfigError, ProviderHTTPError, ProviderResponseError, ProviderUnavailable

if TYPE_CHECKING:
    from .base import ChatResult, PriceTable

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
BACKOFF_BASE = 0.5          # seconds before the first retry; doubled each time
BACKOFF_CAP = 8.0           # no backoff sleep is longer than this
RETRY_AFTER_CAP = 60.0      # a Retry-After header is honoured up to this many seconds
_ERROR_BODY_LIMIT = 64 * 1024
_RETRY_STATUSES = frozenset({408, 429})
_CHUNK = 64 * 1024


class _Retryable(Exception):
    """One failed attempt worth retrying: its message and an optional Retry-After."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): the server's Retry-After when it
    sent a number (capped at RETRY_AFTER_CAP), else BACKOFF_BASE * 2**attempt (capped)."""
    if retry_after is not None:
        return min(retry_after, RETRY_AFTER_CAP)
    return min(BACKOFF_BASE * (2 ** attempt), BACKOFF_CAP)


def display_url(url: str) -> str:
    """The URL without user info or query (either may hold a credential)."""
    p = urlsplit(url)
    host = p.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{p.port}" if p.port else ""
    return f"{p.scheme}://{host}{port}{p.path}"


def check_base_url(url: object, what: str) -> str:
    """A base URL with an http(s) scheme and a host, without a trailing slash; ConfigError else."""
    if not isinstance(url, str) or any(c.isspace() for c in url):
        raise ConfigError(f"{what} base URL must be an http:// or https:// URL, got {url!r:.80}")
    try:
        p = urlsplit(url)
        _ = p.port  # raises ValueError on a port out of range
    except ValueError:
        p = None
    if p is None or p.scheme not in ("http", "https") or not p.hostname:
        raise ConfigError(f"{what} base URL must be an http:// or https:// URL, got {url!r:.80}")
    return url.rstrip("/")


def check_header_value(value: str, what: str) -> None:
    """Refuse a header value http.client would choke on (without echoing the value)."""
    if not value or any(not (0x21 <= ord(c) <= 0x7E) for c in value):
        raise ConfigError(f"{what} must be non-empty printable ASCII without spaces")


def post_json(url: str, body: dict, headers: dict, *, what: str, timeout: float,
              max_retries: int, sleep: Callable[[float], None] = time.sleep,
              max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
              secrets: Iterable[str] = ()) -> dict:
    """POST `body` as JSON to `url` and return the decoded JSON object of a 2xx answer.

    `what` names the endpoint in messages ("openai"). Retries up to `max_retries` times, calling
    `sleep(backoff_delay(n, retry_after))` between attempts."""
    secrets = tuple(s for s in secrets if s)
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    hdrs = {"Content-Type": "application/json", "Accept": "application/json",
            "User-Agent": "trace-vcs"}
    hdrs.update(headers)
    shown = display_url(url)
    attempt = 0
    while True:
        try:
            status, reason, resp_headers, data = _attempt(url, payload, hdrs, timeout,
                                                          max_response_bytes, what)
            if 200 <= status < 300:
                return _decode(data, resp_headers, what, shown)
            message = _http_message(status, reason, data, what)
            if status in _RETRY_STATUSES or 500 <= status < 600:
                raise _Retryable(message, _retry_after(resp_headers))
            if 300 <= status < 400:
                message += " (redirects are not followed: check the base URL)"
            raise ProviderHTTPError(_redact(f"{message} ({shown})", secrets))
        except _Retryable as e:
            if attempt >= max_retries:
                n = attempt + 1
                raise ProviderUnavailable(_redact(
                    f"{e} ({shown}; {n} attempt{'s' if n != 1 else ''})", secrets)) from None
            sleep(backoff_delay(attempt, e.retry_after))
            attempt += 1


def _attempt(url: str, payload: bytes, headers: dict, timeout: float, limit: int,
             what: str) -> tuple:
    """One request: (status, reason, headers, body bytes); _Retryable on transport failures."""
    import http.client  # (here, not at import: http.client + ssl cost ~50 ms, and
    import threading  # `trace llm config` or a deterministic merge never send anything)
    p = urlsplit(url)
    path = (p.path or "/") + (f"?{p.query}" if p.query else "")
    deadline = time.monotonic() + timeout
    cls = http.client.HTTPSConnection if p.scheme == "https" else http.client.HTTPConnection
    assert p.hostname is not None  # check_base_url made sure of a host
    conn = cls(p.hostname, p.port, timeout=timeout)
    fired = threading.Event()
    watchdog: threading.Timer | None = None

    def left() -> float:
        r = deadline - time.monotonic()
        if r <= 0:
            raise TimeoutError("deadline")
        return r

    try:
        try:
            conn.connect()
            sock = conn.sock

            def shut() -> None:
                fired.set()
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            watchdog = threading.Timer(left(), shut)
            watchdog.daemon = True
            watchdog.start()
            sock.settimeout(left())
            conn.request("POST", path, body=payload, headers=headers)
            sock.settimeout(left())
            resp = conn.getresponse()
            status = resp.status
            body_limit = limit if 200 <= status < 300 else _ERROR_BODY_LIMIT
            length = resp.getheader("Content-Length")
            if 200 <= status < 300 and length and length.strip().isdigit() and \
                    int(length) > limit:
                raise ProviderResponseError(
                    f"{what} response is {int(length)} bytes, over the limit of {limit} bytes")
            chunks, size = [], 0
            while True:
                sock.settimeout(left())
                chunk = resp.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > body_limit:
                    if body_limit == limit:
                        raise ProviderResponseError(
                            f"{what} response is over the limit of {limit} bytes")
                    break   # an error body: its start is enough for the message
                chunks.append(chunk)
            if fired.is_set():
                raise TimeoutError("deadline")
            return status, resp.reason, resp.headers, b"".join(chunks)
        except TimeoutError:
            raise _Retryable(f"{what} endpoint did not answer within {timeout:g} s") from None
        except ProviderResponseError:
            raise
        except (http.client.HTTPException, OSError) as e:
            if fired.is_set():
                raise _Retryable(f"{what} endpoint did not answer within {timeout:g} s") from None
            raise _transport_error(e, what) from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
        conn.close()


def _transport_error(e: BaseException, what: str) -> Exception:
    import http.client
    import ssl
    if isinstance(e, socket.gaierror):
        return ProviderUnavailable(f"{what} endpoint: cannot resolve the host name "
                                   f"({e.strerror or e})")
    if isinstance(e, ssl.SSLCertVerificationError):
        return ProviderUnavailable(f"{what} endpoint: TLS certificate not trusted "
                                   f"({e.verify_message or 'verification failed'})")
    if isinstance(e, ConnectionRefusedError):
        return _Retryable(f"{what} endpoint refused the connection")
    if isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        return _Retryable(f"{what} endpoint closed the connection without answering")
    if isinstance(e, http.client.IncompleteRead):
        return _Retryable(f"{what} endpoint closed the connection in the middle of its answer")
    if isinstance(e, http.client.HTTPException):
        return _Retryable(f"{what} endpoint sent a malformed HTTP answer ({type(e).__name__})")
    detail = getattr(e, "strerror", None) or type(e).__name__
    return _Retryable(f"{what} endpoint unreachable ({detail})")


def _retry_after(headers) -> float | None:
    v = headers.get("Retry-After") if headers is not None else None
    if not v:
        return None
    try:
        secs = float(v.strip())
    except ValueError:
        return None          # an HTTP date: use the normal backoff
    return secs if secs >= 0 and math.isfinite(secs) else None


def _http_message(status: int, reason: str, data: bytes, what: str) -> str:
    """"<what> endpoint returned HTTP 401 Unauthorized: <the provider's own message>"."""
    head = f"{what} endpoint returned HTTP {status}" + (f" {reason}" if reason else "")
    detail = _error_detail(data)
    return f"{head}: {detail}" if detail else head


def _error_detail(data: bytes) -> str:
    """The provider's error message from an error body: OpenAI/Anthropic {"error": {"message"}},
    Ollama {"error": "..."}, {"message": ...}, or the start of a plain-text body."""
    text = data.decode("utf-8", "replace")
    msg = None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):
            msg = err.get("message") or err.get("type")
        elif isinstance(err, str):
            msg = err
        if msg is None and isinstance(doc.get("message"), str):
            msg = doc["message"]
        if msg is None and isinstance(doc.get("detail"), str):
            msg = doc["detail"]
    if msg is None and doc is None:
        msg = text
    msg = " ".join(str(msg or "").split())
    return msg if len(msg) <= 300 else msg[:297] + "..."


def _decode(data: bytes, headers, what: str, shown: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        ctype = (headers.get("Content-Type") or "no content type") if headers is not None else "?"
        raise ProviderResponseError(f"{what} endpoint answered with a body that is not JSON "
                                    f"({ctype}, {len(data)} bytes) ({shown})") from None
    if not isinstance(doc, dict):
        raise ProviderResponseError(f"{what} response must be a JSON object, got "
                                    f"{type(doc).__name__} ({shown})")
    return doc


def _redact(text: str, secrets: tuple) -> str:
    for s in secrets:
        text = text.replace(s, "[redacted]")
    return text


class HTTPProvider:
    """What the HTTP providers share: settings, validation, the request loop, cost, repr.

    Subclasses set `name`, `default_base_url`, and implement `_request(system, convo,
    max_tokens, temperature) -> (url, body, headers)` and `_parse(doc) -> (text, model,
    finish_reason, prompt_tokens or None, completion_tokens or None)`. The API key is kept out
    of repr, messages and results."""

    name = "http"
    default_base_url = ""

    def __init__(self, base_url: str | None, model: str, api_key: str | None = None,
                 timeout: float = default("llm.timeout"),
                 max_retries: int = default("llm.max-retries"),
                 prices: PriceTable | dict | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                 max_tokens: int | None = None) -> None:
        from .base import PriceTable

        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"{self.name}: the model name must be a non-empty string")
        if api_key is not None:
            if not isinstance(api_key, str):
                raise ConfigError(f"{self.name}: the API key must be a string")
            check_header_value(api_key, f"{self.name} API key")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not 0 < timeout < float("inf"):
            raise ConfigError(f"{self.name}: timeout must be a positive number of seconds, "
                              f"got {timeout!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"{self.name}: max_retries must be a non-negative integer, "
                              f"got {max_retries!r}")
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) or \
                max_response_bytes < 1:
            raise ConfigError(f"{self.name}: max_response_bytes must be a positive integer")
        if max_tokens is not None and (isinstance(max_tokens, bool) or
                                       not isinstance(max_tokens, int) or max_tokens < 1):
            raise ConfigError(f"{self.name}: max_tokens must be a positive integer, "
                              f"got {max_tokens!r}")
        self.base_url = check_base_url(base_url or self.default_base_url, self.name)
        self.model = model.strip()
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.max_response_bytes = max_response_bytes
        self.prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        self._sleep = sleep
        self.__key = api_key

    def _key(self) -> str | None:
        return self.__key

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, "
                f"api_key={'set' if self.__key else None}, timeout={self.timeout!r}, "
                f"max_retries={self.max_retries!r})")

    def complete(self, messages: list, *, system: str | None = None,
                 max_tokens: int | None = None, temperature: float = 0.0) -> ChatResult:
        """Send one chat request (retried as documented in this module) -> ChatResult."""
        from .base import ChatResult, check_messages

        system, convo = check_messages(messages, system, max_tokens, temperature)
        start = time.monotonic()
        url, body, headers = self._request(system, convo, max_tokens or self.max_tokens,
                                           float(temperature))
        doc = post_json(url, body, headers, what=self.name, timeout=self.timeout,
                        max_retries=self.max_retries, sleep=self._sleep,
                        max_response_bytes=self.max_response_bytes,
                        secrets=(self.__key,) if self.__key else ())
        text, model, finish, p, c = self._parse(doc)
        reported = p is not None and c is not None
        p, c = p or 0, c or 0
        cost = None
        if reported:
            cost = self.prices.cost(self.model, p, c)
            if cost is None and model != self.model:
                cost = self.prices.cost(model, p, c)
        return ChatResult(text=text, provider=self.name, model=model, prompt_tokens=p,
                          completion_tokens=c, cost_usd=cost, finish_reason=finish,
                          latency_ms=int((time.monotonic() - start) * 1000),
                          usage_reported=reported)

    def _request(self, system, convo, max_tokens, temperature) -> tuple:
        raise NotImplementedError

    def _parse(self, doc: dict) -> tuple:
        raise NotImplementedError

    def _model_of(self, doc: dict) -> str:
        m = doc.get("model")
        return m if isinstance(m, str) and m.strip() else self.model

    def _shape_error(self, detail: str) -> ProviderResponseError:
        return ProviderResponseError(f"{self.name} response has the wrong shape: {detail} "
                                     f"({display_url(self.base_url)})")
