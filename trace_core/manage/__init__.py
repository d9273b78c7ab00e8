"""The context manager: a separate agent that watches another agent's context, measures its
health, proposes a plan a human can approve or edit, and executes it (docs/manage.md).

    from trace_core.manage import health, manage, watch
    h = health(repo.agent("worker"))              # Health: tokens, duplicates, stale outputs, ...
    r = manage(repo, "worker")                    # propose (recorded in the `manager` namespace)
    print(r.plan.text())                          # edit it, then:
    manage(repo, "worker", plan=edited_text)      # execute the approved plan
    manage(repo, "worker", auto=True)             # or execute what manage.auto allows
"""

from __future__ import annotations

from .health import Health
from .health import measure as health
from .manager import MODES, ManageResult, execute, manage, watch
from .plan import OPS, ManagePlan, Operation, parse, propose

__all__ = ["MODES", "OPS", "Health", "ManagePlan", "ManageResult", "Operation", "execute",
           "health", "manage", "parse", "propose", "watch"]
