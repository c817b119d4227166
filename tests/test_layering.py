"""The Python workflow layer imports downward only: ledger <- market <- task <- network.
Every import between these modules sits at the top of the file (none hidden inside a
function to dodge a cycle); only the optional plotting module is imported lazily."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "python" / "tagger"
ORDER = ["ledger", "market", "task", "network"]
LAZY_OK = {"plot"}  # matplotlib is an extra


def _imports(name: str) -> tuple[set[str], list[tuple[int, str]]]:
    tree = ast.parse((PKG / f"{name}.py").read_text())
    top, nested = set(), []
    type_checking = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                     and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level != 1 or id(node) in type_checking:
            continue
        mods = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
        for m in mods:
            if node in tree.body:
                top.add(m)
            elif m not in LAZY_OK:
                nested.append((node.lineno, m))
    return top, nested


def test_no_workflow_import_is_hidden_in_a_function():
    for name in ORDER:
        _, nested = _imports(name)
        assert nested == [], f"{name}.py imports inside functions: {nested}"


def test_workflow_modules_import_downward_only():
    for i, name in enumerate(ORDER):
        top, _ = _imports(name)
        upward = top & set(ORDER[i + 1:])
        assert not upward, f"{name}.py imports {upward}, which sit above it ({' <- '.join(ORDER)})"
