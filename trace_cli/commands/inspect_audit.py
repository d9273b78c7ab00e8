"""`trace audit`: what an agent knew when another made a commit, and what left a context."""

from __future__ import annotations

from ..declare import JSON, Choice, argument, command, flag, option
from ..util import EXIT_USAGE, echo, emit_json, fail, open_repo


@command("audit",
         argument("range", required=False, metavar="[RANGE]"),
         flag("--lost", help="List the information that left the context over RANGE (A..B or "
                             "REV; default HEAD's first-parent history)."),
         option("--knew", dest="agent", metavar="AGENT",
                help="Ask what AGENT ('.' = the current agent; a/b = b of a) knew --when the "
                     "other agent made a commit."),
         option("--when", metavar="[AGENT:]REV",
                help="--knew: the commit REV of AGENT (default: the current agent)."),
         option("--basis", type=Choice(("auto", "time", "link")), default="auto",
                show_default=True,
                help="--knew: 'as of' by commit time, by the spawn/collapse link between parent "
                     "and child, or link when there is one."),
         JSON, fast=True)
def audit(obj, range=None, lost=False, agent=None, when=None, basis="auto",
          as_json=False) -> None:
    """Answer one typed question about the history: what AGENT knew when another agent made a
    commit (--knew AGENT --when [AGENT:]REV), or what information left the context (--lost
    [RANGE]).

    \b
    trace audit --lost                          dropped, masked, compressed, not collapsed...
    trace audit --lost HEAD~5..HEAD --json
    trace audit --knew . --when researcher:HEAD     the parent, when the child made HEAD
    trace audit --knew researcher --when HEAD       the child, when the parent made HEAD
    trace audit --knew a --when b:HEAD~2 --basis time
    """
    if lost == (agent is not None):
        fail("give one question: --lost [RANGE] or --knew AGENT --when [AGENT:]REV", EXIT_USAGE)
    if lost and (when is not None or basis != "auto"):
        fail("--when and --basis go with --knew, not --lost", EXIT_USAGE)
    if agent is not None:
        if range is not None:
            fail("--knew takes no RANGE (give the commit with --when [AGENT:]REV)", EXIT_USAGE)
        if not when:
            fail("--knew needs --when [AGENT:]REV", EXIT_USAGE)
        of, _, rev = when.rpartition(":")
        with open_repo(obj) as repo:
            k = repo.audit_knew(agent, rev, of=of or None, basis=basis)
        if as_json:
            emit_json(k.to_dict())
            return
        from trace_core.inspect.audit import knew_lines
        for line in knew_lines(k):
            echo(line)
        return
    with open_repo(obj) as repo:
        res = repo.audit_lost(range)
    if as_json:
        emit_json(res.to_dict())
        return
    from trace_core.inspect.audit import lost_lines
    for line in lost_lines(res):
        echo(line)
