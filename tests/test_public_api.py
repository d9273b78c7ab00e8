"""trace_core's curated exports: `__all__`, the lazy `_EXPORTS` table and the TYPE_CHECKING
imports that type them for mypy and IDEs name the same objects."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import trace_core

INIT = Path(trace_core.__file__)


def _type_checking_imports() -> dict[str, str]:
    """{name: absolute module} of the imports under `if TYPE_CHECKING:` in __init__.py."""
    out = {}
    for node in ast.parse(INIT.read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.level == 1, ast.unparse(imp)
                for alias in imp.names:
                    out[alias.asname or alias.name] = f"trace_core.{imp.module}"
    return out


def test_all_lists_exactly_the_lazy_exports():
    assert trace_core.__all__ == sorted(trace_core._EXPORTS)


def test_every_export_is_imported_for_type_checkers_from_its_module():
    assert _type_checking_imports() == trace_core._EXPORTS


def test_every_export_resolves_to_its_module_object():
    for name, mod in trace_core._EXPORTS.items():
        assert getattr(trace_core, name) is getattr(importlib.import_module(mod), name)
