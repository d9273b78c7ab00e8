"""S3 settings (`S3Options`), importable without obstore: the CLI builds them from the AWS_*
environment for every remote command, whatever the transport."""

from __future__ import annotations

from dataclasses import dataclass, fields

_SECRET_FIELDS = ("access_key_id", "secret_access_key", "session_token")


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3-compatible storage. None: obstore's default (or its AWS_* variable)."""

    endpoint: str | None = None          #: e.g. http://127.0.0.1:8333 (path-style requests)
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    allow_http: bool | None = None       #: plain-HTTP endpoints (never for real credentials);
    #: None: not said (False, unless a lower settings layer says otherwise)

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            shown = "'***'" if f.name in _SECRET_FIELDS and value is not None else repr(value)
            parts.append(f"{f.name}={shown}")
        return f"S3Options({', '.join(parts)})"

    __str__ = __repr__
