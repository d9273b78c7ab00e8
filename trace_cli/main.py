"""Entry point: a click group that imports a command's module only when that command runs.

Common read-only command lines skip click altogether (`trace_cli.fast`); the click group is built
only for the others, so start-up stays cheap (docs/architecture.md).
"""

from __future__ import annotations

import os
import sys

# command name -> (module, function name); modules are imported lazily to keep start-up fast
COMMANDS = {
    # plumbing
    "init": ("trace_cli.plumbing_cmds", "init_cmd"),
    "hash-object": ("trace_cli.plumbing_cmds", "hash_object_cmd"),
    "cat-object": ("trace_cli.plumbing_cmds", "cat_object_cmd"),
    "write-snapshot": ("trace_cli.plumbing_cmds", "write_snapshot_cmd"),
    "ls-snapshot": ("trace_cli.plumbing_cmds", "ls_snapshot_cmd"),
    "commit-tree": ("trace_cli.plumbing_cmds", "commit_tree_cmd"),
    "update-ref": ("trace_cli.ref_cmds", "update_ref_cmd"),
    "symbolic-ref": ("trace_cli.ref_cmds", "symbolic_ref_cmd"),
    "check-ref-format": ("trace_cli.ref_cmds", "check_ref_format_cmd"),
    "rev-parse": ("trace_cli.ref_cmds", "rev_parse_cmd"),
    "for-each-ref": ("trace_cli.ref_cmds", "for_each_ref_cmd"),
    "reflog": ("trace_cli.ref_cmds", "reflog_cmd"),
    "rev-list": ("trace_cli.graph_cmds", "rev_list_cmd"),
    "merge-base": ("trace_cli.graph_cmds", "merge_base_cmd"),
    "fsck": ("trace_cli.maint_cmds", "fsck_cmd"),
    "repack": ("trace_cli.maint_cmds", "repack_cmd"),
    "gc": ("trace_cli.maint_cmds", "gc_cmd"),
    "prune": ("trace_cli.maint_cmds", "prune_cmd"),
    "reindex": ("trace_cli.maint_cmds", "reindex_cmd"),
    "verify-pack": ("trace_cli.maint_cmds", "verify_pack_cmd"),
    "count-objects": ("trace_cli.maint_cmds", "count_objects_cmd"),
    # porcelain
    "commit": ("trace_cli.commit_cmds", "commit_cmd"),
    "reset": ("trace_cli.commit_cmds", "reset_cmd"),
    "checkout": ("trace_cli.commit_cmds", "checkout_cmd"),
    "log": ("trace_cli.view_cmds", "log_cmd"),
    "status": ("trace_cli.view_cmds", "status_cmd"),
    "show": ("trace_cli.view_cmds", "show_cmd"),
    "diff": ("trace_cli.view_cmds", "diff_cmd"),
    "context": ("trace_cli.view_cmds", "context_cmd"),
    "config": ("trace_cli.view_cmds", "config_cmd"),
    "branch": ("trace_cli.branch_cmds", "branch_cmd"),
    "switch": ("trace_cli.branch_cmds", "switch_cmd"),
    "tag": ("trace_cli.branch_cmds", "tag_cmd"),
    "merge": ("trace_cli.merge_cmds", "merge_cmd"),
    "resolve": ("trace_cli.merge_cmds", "resolve_cmd"),
    "rebase": ("trace_cli.merge_cmds", "rebase_cmd"),
    "cherry-pick": ("trace_cli.merge_cmds", "cherry_pick_cmd"),
    "revert": ("trace_cli.merge_cmds", "revert_cmd"),
    "reorder": ("trace_cli.reorder_cmds", "reorder_cmd"),
    "graph": ("trace_cli.dag_cmds", "graph_cmd"),
    "compress": ("trace_cli.compress_cmds", "compress_cmd"),
    "llm": ("trace_cli.llm_cmds", "llm_cmd"),
}

_cli = None


def _build_cli():
    import importlib

    import click

    class LazyGroup(click.Group):
        """A group whose subcommands live in modules imported on first use."""

        def list_commands(self, ctx: click.Context) -> list:
            return sorted(COMMANDS)

        def get_command(self, ctx: click.Context, name: str):
            spec = COMMANDS.get(name)
            if spec is None:
                return None
            return getattr(importlib.import_module(spec[0]), spec[1])

    @click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("-C", "directory", metavar="DIR", help="Run as if started in DIR (or use the .trace repository DIR).")
    @click.option("--agent", metavar="NAME", help="Work in the namespace of sub-agent NAME.")
    @click.version_option(package_name="trace-vcs", prog_name="trace")
    @click.pass_context
    def cli(ctx: click.Context, directory: str | None, agent: str | None) -> None:
        """Trace: version control for the context windows of LLM agents."""
        ctx.ensure_object(dict)
        ctx.obj["directory"] = directory
        ctx.obj["trace_dir"] = os.environ.get("TRACE_DIR") or None
        ctx.obj["agent"] = agent

    return cli


def __getattr__(name: str):
    if name == "cli":  # the click group, built on first use
        global _cli
        if _cli is None:
            _cli = _build_cli()
        return _cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _git_style_args(argv: list) -> list:
    """`rev-parse --short REV` as in git: a bare --short means 12 digits (click would otherwise
    take REV as its value)."""
    if "rev-parse" in argv:
        i = argv.index("rev-parse")
        argv = argv[:i + 1] + ["--short=12" if a == "--short" else a for a in argv[i + 1:]]
    return argv


def main() -> None:
    sys.argv[1:] = _git_style_args(sys.argv[1:])
    if not os.environ.get("_TRACE_NO_FASTPATH"):
        from trace_cli.fast import try_fast
        try_fast(sys.argv[1:])
    from trace_cli.util import run
    run(__getattr__("cli"))


if __name__ == "__main__":
    main()
