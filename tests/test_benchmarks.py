"""The benchmarks are not run by the suite (they take minutes to hours), so check what can break
them silently when the package changes: every name they take from rlgen still exists, and every
one still parses its command line."""

from __future__ import annotations

import ast
import importlib
import runpy
import sys
import types
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).parents[1] / "benchmarks").glob("*.py"))


def _rlgen_names(tree: ast.AST):
    """(line, module, name, local name) for every `from rlgen... import name` and every
    `import rlgen.x as y` in the file, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rlgen":
            for alias in node.names:
                yield node.lineno, node.module, alias.name, alias.asname or alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rlgen" and "." in alias.name and alias.asname:
                    parent, name = alias.name.rsplit(".", 1)
                    yield node.lineno, parent, name, alias.asname


def _resolve(module_name: str, name: str):
    module = importlib.import_module(module_name)
    if hasattr(module, name):
        return getattr(module, name)
    return importlib.import_module(f"{module_name}.{name}")  # a submodule not yet imported


def test_there_are_benchmarks_to_check():
    assert len(BENCHMARKS) >= 8


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_names_from_rlgen_exist(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    bound = {}
    missing = []
    for line, module, name, local in _rlgen_names(tree):
        try:
            bound[local] = _resolve(module, name)
        except (ImportError, AttributeError):
            missing.append(f"{path.name}:{line}: from {module} import {name}")
    # `runtime.configure`, `metrics.compare`, `DQNAgent.load`: attributes of what was imported.
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = bound.get(node.value.id)
            if isinstance(owner, (types.ModuleType, type)) and not hasattr(owner, node.attr):
                missing.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not missing, "benchmarks use names rlgen no longer has:\n" + "\n".join(missing)


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_parses_help(path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(path), "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(path), run_name="__main__")
    assert exit_.value.code in (0, None)
    assert "usage:" in capsys.readouterr().out
