"""Ref and agent names: git check-ref-format rules, plus the names Trace lets callers write."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from ..errors import InvalidRefName

#: Refs that live at the top of a repository (or agent namespace) rather than under refs/.
PSEUDO_REFS = ("HEAD", "ORIG_HEAD", "MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD",
               "SPAWNED", "COLLAPSED", "ABANDONED")
#: How deep agent namespaces nest (a sub-agent of a sub-agent ...): `agents/a/agents/b/...`.
MAX_AGENT_DEPTH = 32

MAX_NAME_BYTES = 1024
MAX_COMPONENT_BYTES = 255
_BAD_CHARS = set(" ~^:?*[\\\x7f") | {chr(c) for c in range(32)}
_AGENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 80 else repr(name[:77] + "...")


def check_ref_format(name: str, allow_onelevel: bool = False) -> str:
    """Return `name` if git check-ref-format would accept it, else raise InvalidRefName.

    The rules (git-check-ref-format(1)): no component starts with '.' or ends with '.lock'; at
    least one '/' unless `allow_onelevel`; no '..'; no control characters, space, ~ ^ : ? * [ or
    backslash; no leading, trailing or doubled '/'; no trailing '.'; no '@{'; not '@' alone.
    Trace adds filesystem limits: 1024 bytes per name, 255 per component.
    """
    if not isinstance(name, str):
        raise InvalidRefName(f"a ref name must be a string, not {type(name).__name__}")

    def bad(why: str) -> InvalidRefName:
        return InvalidRefName(f"invalid ref name {_shown(name)}: {why}")

    if not name:
        raise bad("it is empty")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise bad("it is not valid UTF-8") from None
    if size > MAX_NAME_BYTES:
        raise bad(f"longer than {MAX_NAME_BYTES} bytes")
    if name == "@":
        raise bad("'@' alone is not a ref name")
    for ch in name:
        if ch in _BAD_CHARS:
            raise bad(f"it contains {ch!r}" if ch.isprintable()
                      else "it contains a control character")
    if name.startswith("/") or name.endswith("/"):
        raise bad("it starts or ends with '/'")
    if "//" in name:
        raise bad("it contains '//'")
    if ".." in name:
        raise bad("it contains '..'")
    if "@{" in name:
        raise bad("it contains '@{'")
    if name.endswith("."):
        raise bad("it ends with '.'")
    parts = name.split("/")
    if len(parts) < 2 and not allow_onelevel:
        raise bad("it has only one component (use refs/heads/<name>)")
    for part in parts:
        if part.startswith("."):
            raise bad("a component starts with '.'")
        if part.endswith(".lock"):
            raise bad("a component ends with '.lock'")
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise bad(f"a component is longer than {MAX_COMPONENT_BYTES} bytes")
    return name


@functools.lru_cache(maxsize=1024)
def _check_writable_cached(name: str) -> str:
    return _check_writable(name)


def check_writable(name: str) -> str:
    """A name Trace stores: a pseudo ref (HEAD, ORIG_HEAD, ...) or a valid name under refs/."""
    if isinstance(name, str):
        return _check_writable_cached(name)
    return _check_writable(name)


def _check_writable(name: str) -> str:
    """A name Trace stores: a pseudo ref (HEAD, ORIG_HEAD, ...) or a valid name under refs/."""
    if name in PSEUDO_REFS:
        return name
    check_ref_format(name, allow_onelevel=True)
    if not name.startswith("refs/"):
        raise InvalidRefName(f"invalid ref name {_shown(name)}: refs live under refs/ "
                             f"(or are one of {', '.join(PSEUDO_REFS)})")
    if name.count("/") < 2:
        raise InvalidRefName(f"invalid ref name {_shown(name)}: refs/ needs a category and a name, "
                             "such as refs/heads/main")
    return name


def check_agent_name(name: str) -> str:
    """Agent names are single path components: [A-Za-z0-9][A-Za-z0-9._-]{0,63}, no '..' or
    '.lock'."""
    if not isinstance(name, str) or not _AGENT_RE.match(name) or ".." in name \
            or name.endswith(".lock"):
        shown = _shown(name) if isinstance(name, str) else type(name).__name__
        raise InvalidRefName(f"invalid agent name {shown}: use 1-64 letters, digits, '.', '_' or "
                             "'-', starting with a letter or digit")
    return name


def check_agent_path(path: str) -> list[str]:
    """The names of a nested agent path `a/b/c` (sub-agent c of b of a), each checked."""
    if not isinstance(path, str):
        raise InvalidRefName(f"invalid agent name {type(path).__name__}")
    parts = path.split("/")
    if len(parts) > MAX_AGENT_DEPTH:
        raise InvalidRefName(f"invalid agent name {_shown(path)}: nested deeper than "
                             f"{MAX_AGENT_DEPTH}")
    for part in parts:
        check_agent_name(part)
    return parts


def shorten(name: str, exists: Callable[[str], bool] | None = None, strict: bool = True) -> str:
    """The shortest unambiguous name of ref `name`, as git's `rev-parse --abbrev-ref` and
    `%(refname:short)` print it: refs/heads/x -> x, refs/tags/v1 -> v1, refs/other/y -> other/y;
    HEAD, pseudo-refs and names outside refs/ are returned unchanged.

    It inverts Trace's lookup rules (revparse: as given, refs/<n>, refs/tags/<n>, refs/heads/<n>)
    like git's shorten_unambiguous_ref: a short form is refused when another rule would find a
    ref too; `strict` (git's default, core.warnAmbiguousRefs) checks every other rule, otherwise
    (`--abbrev-ref=loose`) only the rules tried before it. Forms read as given (a pseudo-ref
    name, refs/...) are always refused; the others are checked only when `exists(full name) ->
    bool` is given. With a branch and a tag both named x: strict gives heads/x and tags/x; loose
    gives heads/x and x. A remote-tracking ref refs/remotes/o/m is o/m. Unlike git,
    refs/heads/refs/z is heads/refs/z: Trace reads a name starting with refs/ only as given.
    """
    if not name.startswith("refs/"):
        return name
    for i in range(len(_RULES) - 1, -1, -1):
        prefix = _RULES[i]
        if not name.startswith(prefix) or len(name) == len(prefix):
            continue
        short = name[len(prefix):]
        if short in PSEUDO_REFS or short.startswith("refs/"):
            continue
        others = [p for j, p in enumerate(_RULES) if j != i and (strict or j < i)]
        if exists is not None and any(exists(p + short) for p in others):
            continue
        return short
    return name


#: revparse's lookup order after "as given" (its last rule, refs/remotes/<n>/HEAD, shortens
#: nothing: `origin` alone stands for refs/remotes/origin/HEAD, as in git)
_RULES = ("refs/", "refs/tags/", "refs/heads/", "refs/remotes/")
