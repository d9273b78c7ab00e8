"""Public commit metadata given by the caller: `meta.user` labels and `meta.usage`, the token usage
an LLM API reported for the messages a commit carries (docs/FORMAT.md §6.4.1; no I/O)."""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import InputError

META_KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,63}\Z")
MAX_META_ITEMS = 64
MAX_META_VALUE = 4096          # characters of one value
MAX_USAGE_TOKENS = 2 ** 53     # an exact integer in every JSON reader
MAX_USAGE_TEXT = 256           # characters of a provider, model or trace id

# the usage keys a caller may pass, and the provider response fields that are accepted and not
# stored (so `response.usage.model_dump()` of the OpenAI or Anthropic SDK can be passed as it is)
_COUNTS = {"prompt_tokens": "prompt_tokens", "input_tokens": "prompt_tokens",
           "completion_tokens": "completion_tokens", "output_tokens": "completion_tokens"}
_TEXTS = ("provider", "model", "trace_id")
_IGNORED = frozenset({"total_tokens", "prompt_tokens_details", "completion_tokens_details",
                      "input_tokens_details", "output_tokens_details", "cache_creation",
                      "cache_creation_input_tokens", "cache_read_input_tokens",
                      "server_tool_use", "service_tier"})


def user_meta(meta: Any) -> dict[str, str]:
    """`meta` checked as public commit metadata: at most 64 items, keys matching
    `[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,63}`, string values of at most 4096 characters; InputError
    names the first item that breaks a rule."""
    if not isinstance(meta, dict):
        raise InputError(f"commit metadata must be a mapping of strings, not "
                         f"{type(meta).__name__}")
    if len(meta) > MAX_META_ITEMS:
        raise InputError(f"commit metadata has {len(meta)} items; at most {MAX_META_ITEMS} "
                         "are allowed")
    out: dict[str, str] = {}
    for key, value in meta.items():
        if not isinstance(key, str) or not META_KEY_RE.match(key):
            raise InputError(f"bad metadata key {key!r:.80}: a key is 1-64 characters of "
                             "letters, digits and _ . : / - (not starting with . : / -)")
        if not isinstance(value, str):
            raise InputError(f"metadata value of {key!r} must be a string, not "
                             f"{type(value).__name__}")
        if len(value) > MAX_META_VALUE:
            raise InputError(f"metadata value of {key!r} has {len(value)} characters; at most "
                             f"{MAX_META_VALUE} are allowed")
        if "\x00" in value:
            raise InputError(f"metadata value of {key!r} holds a NUL character")
        out[key] = value
    return out


def usage_meta(usage: Any) -> dict[str, Any]:
    """`usage` (a dict: `prompt_tokens`/`input_tokens`, `completion_tokens`/`output_tokens`,
    and optionally `provider`, `model`, `trace_id`, `cost_usd`) as the stored `meta.usage`:
    `{"provider", "model", "prompt_tokens", "completion_tokens", "cost_usd"}` (null when not
    given) plus `trace_id` when given. InputError for an unknown key or a bad value."""
    if not isinstance(usage, dict):
        raise InputError(f"usage must be a mapping, not {type(usage).__name__}")
    out: dict[str, Any] = {"provider": None, "model": None, "prompt_tokens": None,
                           "completion_tokens": None, "cost_usd": None}
    for key, value in usage.items():
        if key in _COUNTS:
            name = _COUNTS[key]
            if out[name] is not None:
                raise InputError(f"usage gives {name} twice (as {key} and under another name)")
            if (not isinstance(value, int) or isinstance(value, bool) or not
                    0 <= value <= MAX_USAGE_TOKENS):
                raise InputError(f"usage {key} must be a non-negative integer, not {value!r:.40}")
            out[name] = value
        elif key in _TEXTS:
            if value is None:
                continue
            if not isinstance(value, str) or not value or len(value) > MAX_USAGE_TEXT:
                raise InputError(f"usage {key} must be a string of 1-{MAX_USAGE_TEXT} "
                                 f"characters, not {value!r:.40}")
            out[key] = value
        elif key == "cost_usd":
            if value is not None and (not isinstance(value, int | float) or
                                      isinstance(value, bool) or not math.isfinite(value)
                                      or value < 0):
                raise InputError(f"usage cost_usd must be a non-negative number, not "
                                 f"{value!r:.40}")
            out[key] = None if value is None else float(value)
        elif key not in _IGNORED:
            raise InputError(f"unknown usage key {key!r:.40} (known: prompt_tokens, "
                             "completion_tokens, input_tokens, output_tokens, provider, model, "
                             "trace_id, cost_usd)")
    if out["prompt_tokens"] is None and out["completion_tokens"] is None:
        raise InputError("usage needs prompt_tokens (input_tokens) or completion_tokens "
                         "(output_tokens)")
    return out


def commit_meta(meta: Any = None, usage: Any = None) -> dict[str, Any] | None:
    """The meta of an append commit given caller `meta` and `usage` (None when neither)."""
    out: dict[str, Any] = {}
    if meta is not None:
        checked = user_meta(meta)
        if checked:
            out["user"] = checked
    if usage is not None:
        out["usage"] = usage_meta(usage)
    return out or None
