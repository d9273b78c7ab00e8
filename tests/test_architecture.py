"""The layering of docs/architecture.md, enforced on the full import graph of trace_core and
trace_cli (every import statement, function-level and TYPE_CHECKING ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("trace_core", "trace_cli")

# layer of each module, by longest matching dotted prefix (docs/architecture.md draws the same)
LAYERS = {
    # 1 model: immutable objects, ids, canonical encoding, chunked snapshots, messages and their
    # shapes; no I/O
    "trace_core.errors": 1, "trace_core.ids": 1, "trace_core.canonical": 1,
    "trace_core.objects": 1, "trace_core.chunked": 1, "trace_core.messages": 1,
    "trace_core.shapes": 1, "trace_core.toolpairs": 1, "trace_core.bulk": 1,
    "trace_core.publicmeta": 1,
    # 2 storage, refs, index, and the leaf services they and everything above use
    "trace_core.storage": 2, "trace_core.refs": 2, "trace_core.index": 2,
    "trace_core.config": 2, "trace_core.settings": 2, "trace_core.tokens": 2,
    "trace_core.llm": 2, "trace_core.transport": 2,
    "trace_core.materialize": 2,
    # 3 repository state
    "trace_core.state": 3, "trace_core.hooks": 3,
    # 4 plumbing: the primitives, and maintenance built on them
    "trace_core.plumbing": 4, "trace_core.fsck": 4, "trace_core.gc": 4,
    "trace_core.retention": 4,
    # 5 porcelain
    "trace_core.history": 5, "trace_core.context": 5, "trace_core.status": 5,
    "trace_core.diff": 5, "trace_core.branches": 5, "trace_core.merge": 5,
    "trace_core.commitinfo": 5, "trace_core.notes": 5,
    "trace_core.compress": 5, "trace_core.reorder": 5, "trace_core.render": 5,
    "trace_core.agents": 5, "trace_core.inspect": 5, "trace_core.web": 5,
    "trace_core.policy": 5, "trace_core.manage": 5, "trace_core.remote": 5,
    # 6 facade
    "trace_core.repository": 6, "trace_core": 6,
    # 7 integrations, then the command line
    "trace_core.integrations": 7,
    "trace_core.integrations.mcp_server": 7,
    "trace_core.integrations.langchain": 7, "trace_core.integrations.litellm": 7,
    "trace_core.integrations.anthropic_sdk": 7,
    "trace_core.integrations.claude_code": 7,
    "trace_core.integrations.langgraph": 7,
    "trace_core.integrations.lc_messages": 7,
    "trace_cli": 8,
}
NAMES = {1: "model", 2: "storage/refs/index", 3: "state", 4: "plumbing", 5: "porcelain",
         6: "facade", 7: "integrations", 8: "cli"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[module_name(path)] = path
    return out


MODULES = all_modules()


def is_package(mod: str) -> bool:
    return MODULES[mod].name == "__init__.py"


def imports_of(mod: str) -> set:
    """The project modules `mod` imports, anywhere in its body."""
    tree = ast.parse(MODULES[mod].read_text(), str(MODULES[mod]))
    pkg = mod if is_package(mod) else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = []
            for a in node.names:
                sub = f"{stem}.{a.name}"
                targets.append(sub if sub in MODULES else stem)
        else:
            continue
        for t in targets:
            while t and t not in MODULES:   # `import a.b.c` of a non-module attribute
                t = t.rpartition(".")[0]
            if t and t != mod:
                out.add(t)
    return out


GRAPH = {m: imports_of(m) for m in MODULES}


def layer(mod: str) -> int:
    best = max((p for p in LAYERS if mod == p or mod.startswith(p + ".")), key=len)
    return LAYERS[best]


def test_every_module_has_a_layer():
    for mod in MODULES:
        assert any(mod == p or mod.startswith(p + ".") for p in LAYERS), mod


def test_no_import_reaches_a_higher_layer():
    upward = [f"{m} ({NAMES[layer(m)]}) imports {t} ({NAMES[layer(t)]})"
              for m, targets in GRAPH.items() for t in sorted(targets)
              if layer(t) > layer(m) and not (t == "trace_core" and m.startswith("trace_core."))]
    assert upward == [], "\n".join(upward)


def test_the_import_graph_has_no_cycle():
    # Tarjan's strongly connected components over module -> imported module
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert sccs == [], "\n".join(" <-> ".join(c) for c in sccs)


def _calls(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _attr_chain(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


CORE = [m for m in MODULES if m.startswith("trace_core")]


@pytest.mark.parametrize("mod", CORE)
def test_trace_core_never_prints_prompts_or_reads_the_environment(mod):
    src = MODULES[mod].read_text()
    bad = []
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            bad += [f"imports {n}" for n in names if n.split(".")[0] == "click"]
        if isinstance(node, ast.Call):
            fn = _attr_chain(node.func)
            if fn in ("print", "input", "breakpoint", "os.getenv", "getpass.getpass",
                      "sys.stdout.write", "sys.stderr.write"):
                bad.append(f"calls {fn}")
        if isinstance(node, ast.Attribute) and _attr_chain(node) in ("os.environ", "sys.stdin",
                                                                      "os.environb"):
            bad.append(f"reads {_attr_chain(node)}")
    assert bad == [], f"{mod}: {bad}"


# the ref store's writes: only plumbing moves refs (docs/architecture.md)
REF_WRITES = ("set_if_equals", "add_if_new", "remove_if_equals", "set_symbolic")


def test_only_plumbing_moves_refs_and_builds_commits():
    allowed = ("trace_core.refs", "trace_core.plumbing")
    found = []
    for mod, path in MODULES.items():
        if any(mod == a or mod.startswith(a + ".") for a in allowed):
            continue
        for call in _calls(path):
            chain = _attr_chain(call.func)
            parts = chain.split(".")
            if isinstance(call.func, ast.Attribute) and (
                    call.func.attr in REF_WRITES
                    or (call.func.attr in ("rename", "transaction") and "refs" in parts[:-1])):
                found.append(f"{mod}: {chain or call.func.attr}()")
            if parts[-1] == "Commit" and mod != "trace_core.objects":
                found.append(f"{mod}: {chain}()")
    # creating a repository writes its first HEAD before there is anything to move
    found = [f for f in found if f != "trace_core.state: set_symbolic()"]
    assert found == [], "\n".join(found)


def test_the_cli_holds_no_sql():
    sql = ("SELECT ", "INSERT ", "UPDATE ", " FROM ", "printf(", "lower(hex(")
    found = [f"{m}: {s.strip()}" for m, p in MODULES.items() if m.startswith("trace_cli")
             for s in sql if s in p.read_text()]
    assert found == []


def test_the_plumbing_exports_are_the_documented_primitives():
    import trace_core.plumbing as plumbing
    assert sorted(plumbing.__all__) == sorted(plumbing._EXPORTS)
    doc = (ROOT / "docs" / "plumbing.md").read_text()
    for name in plumbing.__all__:
        assert callable(getattr(plumbing, name)), name
    for name in ("commit_change", "Transaction", "publish", "update_ref", "rev_list"):
        assert f"`{name}" in doc, name


def test_the_exception_tree_in_errors_py_is_the_code():
    """errors.py's docstring draws every TraceError subclass of trace_core under its parent."""
    import importlib
    import re

    import trace_core.errors as errors
    drawn = {}
    stack: list = []
    for line in errors.__doc__.splitlines():
        m = re.match(r"^\s{4}((?:[│ ]   )*)(?:[├└]── )?(\w+)\s", line + " ")
        if not m or not m.group(2)[0].isupper():
            continue
        depth = len(m.group(1)) // 4 + (1 if "──" in line else 0)
        del stack[depth:]
        drawn[m.group(2)] = stack[-1] if stack else None
        stack.append(m.group(2))
    real = {}
    for mod in CORE:
        module = importlib.import_module(mod)
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, errors.TraceError) and \
                    obj.__module__ == mod:
                real[name] = None if obj is errors.TraceError else obj.__bases__[0].__name__
    assert drawn == real
