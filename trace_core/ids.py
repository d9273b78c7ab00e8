"""Object ids: 32-byte blake3 digests, their hex form, and validation before any use in a path."""

from __future__ import annotations

import re
from typing import NewType

from .errors import InvalidObjectId

RawId = NewType("RawId", bytes)
HexId = NewType("HexId", str)

ID_LEN = 32
HEX_LEN = 64
ZERO_HEX = HexId("0" * HEX_LEN)
ZERO_RAW = RawId(b"\x00" * ID_LEN)
MIN_SHORT = 4

_HEX_RE = re.compile(r"[0-9a-f]{64}\Z")
_PREFIX_RE = re.compile(r"[0-9a-f]{4,64}\Z")


_blake3 = None


def hash_bytes(data: bytes) -> RawId:
    """The blake3 digest that names an object with these canonical bytes."""
    global _blake3
    if _blake3 is None:  # imported on first use: read-only commands may never hash
        from blake3 import blake3 as _b
        _blake3 = _b
    return _blake3(data).digest()  # type: ignore[return-value]


def to_hex(raw: bytes) -> HexId:
    if len(raw) != ID_LEN:
        raise InvalidObjectId(f"object id must be {ID_LEN} bytes, got {len(raw)}")
    return HexId(raw.hex())


def from_hex(text: str) -> RawId:
    """Parse a full 64-character lowercase hex id; anything else raises InvalidObjectId."""
    if not isinstance(text, str) or not _HEX_RE.match(text):
        raise InvalidObjectId(f"not a full object id: {_show(text)}")
    return RawId(bytes.fromhex(text))


def is_hex_id(text: object) -> bool:
    return isinstance(text, str) and bool(_HEX_RE.match(text))


def is_hex_prefix(text: object) -> bool:
    """True for 4..64 lowercase hex characters (a possible short id)."""
    return isinstance(text, str) and bool(_PREFIX_RE.match(text))


def check_raw(raw: object) -> RawId:
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != ID_LEN:
        raise InvalidObjectId("object id must be 32 raw bytes")
    return RawId(bytes(raw))


def _show(text: object) -> str:
    s = repr(text)
    return s if len(s) <= 80 else s[:77] + "..."
