"""The effective settings of an opened repository: the user's config, the repository's config and
command-line overrides layered like git's, under the trust rule of docs/security.md.

Layers, later wins: the user's own configuration (USER), the repository's `.trace/config` (REPO),
overrides given for one command or in code (OVERRIDE). Each key's `KeySpec.source`
(trace_core.config) says which layers may set it:

    source      USER  REPO                      OVERRIDE
    any         yes   yes                       yes
    repo        no    yes                       no     (a property of the repository's data)
    trusted     yes   only if the user trusts   yes    (sends data or credentials off the
                      this repository                   machine, or runs a program)
    user        yes   no, even when trusted     yes    (which environment variable is read;
                                                        which repositories are trusted)

A value a layer may not set is ignored, and the first read of that key reports it once, in one
line naming the key and the file, through `on_ignored` (RepoState passes its `warn`). The user
trusts a repository with a `safe.directory` value in their own configuration (`is_trusted`).
trace_core never reads the environment or the home directory: the caller (the CLI, or a Python
program) loads the user's configuration and passes it in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .config import (
    ANYWHERE,
    KNOWN_KEYS,
    REPO_ONLY,
    TRUSTED,
    USER_ONLY,
    Config,
    KeyId,
    budget_from,
    join_key,
    key_source,
    split_key,
)

USER, REPO, OVERRIDE = "user", "repo", "override"
__all__ = ["OVERRIDE", "REPO", "TRUSTED", "USER", "USER_ONLY", "ConfigView", "allowed",
           "ignored_message", "is_trusted"]
TRUST_KEY = "safe.directory"

# the sections holding a key whose source is not ANYWHERE: other entries skip the schema lookup
_GUARDED_SECTIONS = frozenset(k.split(".", 1)[0] for k, spec in KNOWN_KEYS.items()
                              if spec.source != ANYWHERE)
_EMPTY = Config()


def is_trusted(user_config: Config | None, trace_dir: str) -> bool:
    """Whether `user_config` trusts the repository at `trace_dir`: a safe.directory value that is
    `*`, or the absolute path of the .trace directory or of the directory holding it (compared
    after resolving symbolic links, like git's safe.directory). Relative values never match."""
    if user_config is None:
        return False
    values = [v.strip() for v in user_config.get_all(TRUST_KEY)]
    if not values:
        return False
    if "*" in values:
        return True
    real = os.path.realpath(trace_dir)
    targets = {real}
    if os.path.basename(real) == ".trace":
        targets.add(os.path.dirname(real))
    return any(os.path.isabs(v) and os.path.realpath(v) in targets for v in values)


def allowed(layer: str, source: str, trusted: bool) -> bool:
    """Whether a layer (USER, REPO, OVERRIDE) may set a key of `source` (the table above)."""
    if source == ANYWHERE:
        return True
    if layer == REPO:
        return source == REPO_ONLY or (source == TRUSTED and trusted)
    return source != REPO_ONLY


def ignored_message(key: str, origin: str, layer: str, source: str, trace_dir: str) -> str:
    """The one line that reports a value a layer may not set."""
    if layer != REPO:
        return (f"ignoring {key} from {origin}: it is a property of each repository, set in "
                f"its .trace/config")
    if source == USER_ONLY:
        return (f"ignoring {key} from {origin}: a repository never sets it, trusted or not; "
                f"set it in your own config ('trace config --global {key} VALUE' or "
                f"'trace -c {key}=VALUE')")
    return (f"ignoring {key} from {origin}: this repository is not trusted (trust it with "
            f"'trace trust {trace_dir}', or set {key} with 'trace config --global')")


class ConfigView:
    """The effective configuration: the read API of a Config (get, get_all, `in`, get_typed,
    get_int, get_bool, get_float, items, subsections, budget_for) over the layers, with the
    values no layer may set left out. Immutable; build a new view when a layer changes."""

    def __init__(self, repo: Config, user: Config | None = None,
                 overrides: Config | None = None, *, trusted: bool = False,
                 trace_dir: str = "", on_ignored: Callable[[str], None] | None = None,
                 reported: set[KeyId] | None = None) -> None:
        self.repo, self.user, self.overrides, self.trusted = repo, user, overrides, trusted
        self.origin = repo.origin
        self.trace_dir = trace_dir or os.path.dirname(repo.origin)
        self.on_ignored = on_ignored
        self.layers: tuple[tuple[str, Config], ...] = tuple(
            (name, cfg) for name, cfg in ((USER, user), (REPO, repo), (OVERRIDE, overrides))
            if cfg is not None)
        #: key -> indexes (into layers) of the layers that set it and may, in order
        self._set: dict[KeyId, list[int]] = {}
        #: key -> (origin, layer, source) of the last value left out
        self._ignored: dict[KeyId, tuple[str, str, str]] = {}
        self._reported = reported if reported is not None else set()
        self._typed: dict[str, Any] = {}      # get_typed's answers (the layers never change)
        for i, (name, cfg) in enumerate(self.layers):
            for ln in cfg.lines:
                if ln.key is None or ln.section is None:
                    continue
                kid = (*ln.section, ln.key)
                source = key_source(kid) if ln.section[0] in _GUARDED_SECTIONS else ANYWHERE
                if allowed(name, source, trusted):
                    hits = self._set.setdefault(kid, [])
                    if not hits or hits[-1] != i:
                        hits.append(i)
                else:
                    self._ignored[kid] = (cfg.origin, name, source)

    def __repr__(self) -> str:
        return (f"ConfigView(layers={[(n, c.origin) for n, c in self.layers]!r}, "
                f"trusted={self.trusted!r})")

    # -- what was left out ------------------------------------------------------------------------

    def ignored(self) -> list[tuple[str, str]]:
        """(key, one-line reason) of every value left out, in file order."""
        return [(join_key(kid), ignored_message(join_key(kid), origin, layer, source,
                                                self.trace_dir))
                for kid, (origin, layer, source) in self._ignored.items()]

    def _report(self, kid: KeyId) -> None:
        if kid in self._reported:
            return
        self._reported.add(kid)
        if self.on_ignored is not None:
            origin, layer, source = self._ignored[kid]
            self.on_ignored(ignored_message(join_key(kid), origin, layer, source,
                                            self.trace_dir))

    def _layer(self, key: str) -> Config | None:
        """The Config whose value of `key` is in effect (reporting a left-out value once)."""
        kid = split_key(key)
        if kid in self._ignored:
            self._report(kid)
        hits = self._set.get(kid)
        return self.layers[hits[-1]][1] if hits else None

    def declares(self, prefix: str) -> bool:
        """Whether any layer holds a key starting with `prefix` (e.g. "hooks.post-",
        "policy."; the section compared in lower case): a cheap test of whether a feature is
        configured at all, read before anything that feature needs is imported."""
        prefix = prefix.lower()
        return any(k.lower().startswith(prefix) for _name, cfg in self.layers
                   for k, _v in cfg.items())

    def trusted_value(self, key: str) -> bool:
        """Whether the value of `key` in effect comes from a source that may set trusted keys:
        the user's configuration, an override, or a repository the user trusts (True for an
        unset key: its default is Trace's). A policy that calls a model checks the settings
        that decide it does (trace_core.policy.spec)."""
        hits = self._set.get(split_key(key))
        if not hits:
            return True
        return self.layers[hits[-1]][0] != REPO or self.trusted

    # -- reading (as Config) ----------------------------------------------------------------------

    def __contains__(self, key: str) -> bool:
        return self._layer(key) is not None

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of `key` in effect, or `default`."""
        cfg = self._layer(key)
        return cfg.get(key, default) if cfg is not None else default

    def get_all(self, key: str) -> list[str]:
        """Every value of `key` the layers may set, lowest layer first."""
        self._layer(key)
        hits = self._set.get(split_key(key), [])
        return [v for i in hits for v in self.layers[i][1].get_all(key)]

    def get_typed(self, key: str) -> Any:
        """As Config.get_typed, on the value in effect (errors name its file and line)."""
        try:
            return self._typed[key]
        except KeyError:
            pass
        cfg = self._layer(key)
        value = self._typed[key] = (cfg if cfg is not None else _EMPTY).get_typed(key)
        return value

    def get_int(self, key: str, default: int | None = None) -> int | None:
        cfg = self._layer(key)
        return cfg.get_int(key, default) if cfg is not None else default

    def get_bool(self, key: str, default: bool | None = None) -> bool | None:
        cfg = self._layer(key)
        return cfg.get_bool(key, default) if cfg is not None else default

    def get_float(self, key: str, default: float | None = None) -> float | None:
        cfg = self._layer(key)
        return cfg.get_float(key, default) if cfg is not None else default

    def budget_for(self, branch: str | None) -> tuple[int | None, tuple[float, ...]]:
        """(max tokens or None, warn fractions) for a branch: branch.<name>.* over budget.*."""
        return budget_from(self.get_typed, branch)

    def items(self) -> list[tuple[str, str]]:
        """Every (key, value) in effect, lowest layer first, repeats included."""
        return [item for _, _, item in self.items_with_origin()]

    def items_with_origin(self) -> list[tuple[str, str, tuple[str, str]]]:
        """(layer, origin, (key, value)) of every value the layers may set, lowest first."""
        out = []
        for i, (name, cfg) in enumerate(self.layers):
            for k, v in cfg.items():
                if i in self._set.get(split_key(k), ()):
                    out.append((name, cfg.origin, (k, v)))
        return out

    def subsections(self, section: str) -> list[str]:
        """The distinct subsections of `section` with a value in effect, in first-seen order."""
        section = section.lower()
        seen: dict[str, None] = {}
        for sec, sub, _ in self._set:
            if sec == section and sub is not None:
                seen.setdefault(sub)
        return list(seen)

