"""The layers of the package, checked on its own imports (see docs/architecture.md).

The import statements of every module, followed through the package's own modules, are compared
with the rules: the fitting engine knows nothing of torch, Lightning or matplotlib; connectivity, nets and
masks know nothing of Lightning; the nets and the analysis pipeline know nothing of the callbacks
or the CLI; importing the package never changes matplotlib's backend.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pl_powerlaw"
MODULES = sorted(
    ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for path in PACKAGE.rglob("*.py")
    if path.name != "__main__.py"
)

# module prefix -> module prefixes it must not import (directly or through what it imports)
FORBIDDEN = {
    "pl_powerlaw.fitting": ("torch", "lightning", "matplotlib", "pl_powerlaw.connectivity"),
    "pl_powerlaw.atomic": ("torch", "lightning", "numpy"),
    "pl_powerlaw.background": ("torch", "lightning", "numpy", "matplotlib"),
    "pl_powerlaw.errors": ("torch", "lightning", "numpy", "pl_powerlaw.cli"),
    "pl_powerlaw.provenance": ("lightning", "pl_powerlaw.callbacks", "pl_powerlaw.cli"),
    "pl_powerlaw.rng": ("lightning", "pl_powerlaw.callbacks", "pl_powerlaw.models"),
    "pl_powerlaw.nn": ("lightning", "pl_powerlaw.fitting", "pl_powerlaw.connectivity"),
    "pl_powerlaw.connectivity": ("lightning", "matplotlib", "pl_powerlaw.fitting"),
    "pl_powerlaw.pruning": ("lightning", "matplotlib"),
    "pl_powerlaw.continual": ("lightning", "matplotlib"),
    "pl_powerlaw.preferential": ("lightning", "matplotlib"),
    "pl_powerlaw.dynamic": ("lightning", "matplotlib"),
    "pl_powerlaw.plotting": ("torch", "lightning"),
    "pl_powerlaw.checkpoints": ("lightning.pytorch.callbacks", "pl_powerlaw.callbacks"),
    "pl_powerlaw.analysis": ("lightning", "pl_powerlaw.callbacks", "pl_powerlaw.cli"),
    "pl_powerlaw.models": ("pl_powerlaw.callbacks", "pl_powerlaw.cli", "pl_powerlaw.analyze"),
    "pl_powerlaw.data": ("pl_powerlaw.callbacks", "pl_powerlaw.cli", "pl_powerlaw.models"),
    "pl_powerlaw.callbacks": ("pl_powerlaw.cli", "pl_powerlaw.analyze"),
}

PROBE = """
import importlib, json, sys, matplotlib
backend = matplotlib.rcParams._get_backend_or_none()
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(matplotlib.rcParams._get_backend_or_none() != backend))
"""


def module_path(module: str) -> Path:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def direct_imports(module: str) -> set[str]:
    """Modules named by the import statements of ``module`` that run (not ``TYPE_CHECKING`` ones)."""
    tree = ast.parse(module_path(module).read_text())
    for node in ast.walk(tree):  # imports for type checkers only never run
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        }:
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imported_by(module: str) -> set[str]:
    """Every module ``module`` imports, following the package's own modules transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in direct_imports(todo.pop()):
            if name in seen:
                continue
            seen.add(name)
            if name in MODULES:
                todo.append(name)
    return seen


def rules_for(module: str) -> tuple[str, ...]:
    return tuple(
        banned
        for prefix, banned_list in FORBIDDEN.items()
        if module == prefix or module.startswith(prefix + ".")
        for banned in banned_list
    )


@pytest.mark.parametrize("module", MODULES)
def test_module_respects_the_layering(module):
    rules = rules_for(module)
    broken = sorted(
        name
        for name in imported_by(module)
        for banned in rules
        if name == banned or name.startswith(banned + ".")
    )
    assert not broken, f"{module} imports {broken[:5]} (forbidden: {rules})"


def test_importing_the_package_leaves_matplotlibs_backend_alone():
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *MODULES], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) is False


def test_no_module_uses_pyplot_or_sets_the_backend():
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if "matplotlib.pyplot" in path.read_text() or "matplotlib.use(" in path.read_text()
    ]
    assert not offenders, f"use the Agg canvas of pl_powerlaw.plotting.canvas instead: {offenders}"


def test_every_layer_has_a_rule():
    uncovered = [m for m in MODULES if not rules_for(m)]
    allowed = {"pl_powerlaw", "pl_powerlaw.cli", "pl_powerlaw.analyze"}
    assert set(uncovered) <= allowed, f"modules without a layering rule: {uncovered}"
