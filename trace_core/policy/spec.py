"""Policies as the settings declare them: `policy.<name>.<key>` (docs/policy.md, FORMAT.md §12.5),
read through the effective settings, so a user's own configuration, a repository's config and
`trace -c` all declare policies, and `policy.<name>.llm` (a policy may call the model) counts
only from a trusted source (docs/security.md)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ..errors import ConfigError

ACTIONS = ("compress", "pin", "branch", "return")
STRATEGY_STEPS = ("mask", "extractive", "llm")
PIN_KINDS = ("requirements", "paths", "identifiers", "corrections")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")   # (a config subsection, not a ref)
_KEYS = ("action", "on", "enabled", "at", "target", "strategy", "keep-turns", "granularity",
         "kinds", "max", "similarity", "min-words", "prefix", "classifier", "mode", "llm")


class Policy(NamedTuple):
    """One declared policy: its name, action, trigger (`on`), whether it is enabled, and its
    settings (`opts`, every key of `_KEYS` with its typed value or default, and
    `model-classifier` / `model-strategy`: whether its classifier / its strategy chain may
    call the model)."""

    name: str
    action: str | None
    on: str
    enabled: bool
    opts: dict

    def get(self, key: str) -> Any:
        return self.opts[key]

    def strategy_steps(self) -> list[str]:
        steps = [s.strip() for s in str(self.opts["strategy"]).split(",") if s.strip()]
        bad = [s for s in steps if s not in STRATEGY_STEPS]
        if bad or not steps:
            raise ConfigError(f"policy.{self.name}.strategy: {bad[0] if bad else '(empty)'!r} "
                              f"is not a strategy (a comma-separated chain of "
                              f"{', '.join(STRATEGY_STEPS)})")
        return steps

    def pin_kinds(self) -> list[str]:
        kinds = [s.strip() for s in str(self.opts["kinds"]).split(",") if s.strip()]
        bad = [k for k in kinds if k not in PIN_KINDS]
        if bad or not kinds:
            raise ConfigError(f"policy.{self.name}.kinds: {bad[0] if bad else '(empty)'!r} is "
                              f"not a kind (a comma-separated list of {', '.join(PIN_KINDS)})")
        return kinds


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        shown = str(name)[:40]
        raise ConfigError(f"{shown!r} is not a policy name (letters, digits, '.', '_', '-'; at "
                          "most 64, starting with a letter or digit)")
    return name


def load(config: Any) -> list[Policy]:
    """The policies the settings declare, in the order their names first appear. A name that
    is not a valid policy name is a ConfigError naming it."""
    out = []
    trusted = getattr(config, "trusted_value", lambda key: False)
    for name in config.subsections("policy"):
        check_name(name)
        opts = {k: config.get_typed(f"policy.{name}.{k}") for k in _KEYS}
        # a model is called only when `llm` (a trusted key) is on AND the setting that asks
        # for it (the classifier, the strategy chain) comes from a trusted source too: an
        # untrusted repository cannot turn a user's llm-enabled policy into a model caller
        llm = bool(opts["llm"])
        opts["model-classifier"] = llm and trusted(f"policy.{name}.classifier")
        opts["model-strategy"] = llm and trusted(f"policy.{name}.strategy")
        out.append(Policy(name, opts["action"], opts["on"], bool(opts["enabled"]), opts))
    return out


def find(policies: list[Policy], name: str) -> Policy:
    """The policy `name` among `policies` (ConfigError naming it when none is)."""
    for p in policies:
        if p.name == name:
            return p
    raise ConfigError(f"no policy named {name!r} (declare it with `trace config "
                      f"policy.{name}.action compress|pin|branch|return`)")
