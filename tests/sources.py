"""The application's own source, read as syntax trees: for tests of how the code is laid out
(which module may import or name what)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

from tests.processes import ROOT

#: The application's packages (not tests, benchmarks or scripts).
LAYERS = ("annotation", "api", "ops")


def lines_where(
    matches: Callable[[ast.AST, Path], bool], *, skip: Callable[[Path], bool] = lambda _: False
) -> dict[str, list[int]]:
    """Per module of the application (those `skip` leaves out aside), the lines of the nodes
    `matches` accepts; modules without any are left out, so {} means none anywhere."""
    found: dict[str, list[int]] = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            if skip(path):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            lines = [node.lineno for node in ast.walk(tree) if matches(node, path)]
            if lines:
                found[str(path.relative_to(ROOT))] = lines
    return found
