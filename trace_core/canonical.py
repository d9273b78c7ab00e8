"""Canonical msgpack: the one byte encoding of a value, so that equal values hash equally.

Rules (docs/FORMAT.md, "Canonical msgpack"):
- nil, false, true; integers in the shortest msgpack form (-2**63 .. 2**64-1);
- floats always as float64 (0xcb), finite only (NaN and infinities are refused);
- strings as msgpack str (valid UTF-8), byte strings as msgpack bin;
- arrays; maps whose keys are strings, sorted by their UTF-8 bytes, without duplicates;
- no extension types, no float32, no non-shortest lengths;
- at most MAX_DEPTH (64) containers nested in one another, counting the outermost.
A decoder accepts bytes only if re-encoding the decoded value gives the same bytes. The depth
limit is enforced by `normalize` (writing, and `decode` in strict mode) and, for reads that skip
the canonical check, by `objects.parse_object` through `check_depth` on the parts of an object
whose shape is free (a blob's message, a commit's meta): what one accepts the other accepts too.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack

from .errors import InputError, MalformedObject

MAX_DEPTH = 64
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def normalize(value: Any, depth: int = 0) -> Any:
    """Return a copy of a JSON-like value in canonical form (sorted maps, lists for tuples).

    `depth` is the number of containers that will enclose `value` in the stored object (a blob's
    message sits in the object's array: 1). Raises InputError for values that have no canonical
    encoding, including values nested deeper than MAX_DEPTH containers in all.
    """
    if value is None or value is True or value is False or isinstance(value, str):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise InputError(f"integer {value} out of the 64-bit range")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError("NaN and infinite floats have no canonical encoding")
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise InputError(f"value nested deeper than {MAX_DEPTH} levels")
        return [normalize(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise InputError(f"value nested deeper than {MAX_DEPTH} levels")
        out = {}
        for k in sorted(value, key=_key_bytes):
            out[k] = normalize(value[k], depth + 1)
        return out
    raise InputError(f"a value of type {type(value).__name__} cannot be stored")


def _key_bytes(key: Any) -> bytes:
    if not isinstance(key, str):
        raise InputError(f"map keys must be strings, got {type(key).__name__}")
    try:
        return key.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("map key is not valid UTF-8") from None


def encode(value: Any) -> bytes:
    """Encode an already-normalized value (maps in canonical key order).

    Raises InputError for text that is not valid Unicode (a lone surrogate, as from a JSON
    "\\ud800" escape or from undecodable bytes in a command-line argument) and for an integer
    outside -2**63 .. 2**64-1: values that have no canonical encoding."""
    try:
        return msgpack.packb(value, use_bin_type=True)
    except UnicodeEncodeError:
        raise InputError(_bad_text(value)) from None
    except OverflowError:
        raise InputError("an integer is out of the 64-bit range") from None


def _bad_text(value: Any) -> str:
    """Why `value` cannot be encoded: the first string in it that is not valid Unicode."""
    stack: list = [(value, None)]
    while stack:
        v, key = stack.pop()
        if isinstance(v, dict):
            stack.extend((k, "a map key") for k in v)
            stack.extend((x, f"the value of {k!r}") for k, x in v.items() if isinstance(k, str))
        elif isinstance(v, (list, tuple)):
            stack.extend((x, key) for x in v)
        elif isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as exc:
                return (f"text is not valid Unicode: {key or 'a string'} holds the lone "
                        f"surrogate U+{ord(v[exc.start]):04X} at character {exc.start}")
    return "text is not valid Unicode"


def encode_any(value: Any) -> bytes:
    """Normalize, then encode."""
    return encode(normalize(value))


def decode(data: bytes, max_len: int, strict: bool = True) -> Any:
    """Decode canonical msgpack; raise MalformedObject for anything else.

    With strict=False the canonical-form check (a re-encode) is skipped: for bytes already
    verified against their blake3 name, whose form was checked when they were written or by fsck.
    The depth limit is then the caller's to check (`check_depth`; objects.parse_object does).
    """
    if len(data) > max_len:
        raise MalformedObject(f"object of {len(data)} bytes exceeds the limit of {max_len}")
    try:
        value = msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True,
            ext_hook=_no_ext,
        )
    except MalformedObject:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedObject(f"not valid msgpack: {type(exc).__name__}") from None
    if not strict:
        return value    # objects.parse_object checks the depth of the free-form parts
    try:
        again = encode(normalize(value))
    except InputError as exc:
        raise MalformedObject(f"not canonical: {exc}") from None
    if again != data:
        raise MalformedObject("not in canonical msgpack form")
    return value


def check_depth(value: Any, depth: int = 0) -> None:
    """Raise MalformedObject if `value`, enclosed in `depth` containers, nests more than MAX_DEPTH
    containers in all (iterative: no recursion, so a hostile value cannot exhaust the stack)."""
    if not isinstance(value, (list, dict)):
        return
    stack = [(value, depth + 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH:
            raise MalformedObject(f"value nested deeper than {MAX_DEPTH} levels")
        for x in (v.values() if isinstance(v, dict) else v):
            if isinstance(x, (list, dict)):
                stack.append((x, d + 1))


def _no_ext(code: int, data: bytes) -> Any:
    raise MalformedObject("msgpack extension types are not allowed")
