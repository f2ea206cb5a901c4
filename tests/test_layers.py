"""The layer contract: imports flow one way, and no module imports itself round a cycle."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module in ``engine``'s import graph."""
    graph = grimp.build_graph("engine", exclude_type_checking_imports=True)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iteratively (the graph is deep)
        work = [(start, iter(sorted(imports[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(imports[child]))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return found


def test_no_module_of_engine_is_part_of_an_import_cycle():
    assert _cycles() == []


def test_the_contract_holds_on_the_tree():
    done = subprocess.run([str(LINT)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_a_wrong_way_import_breaks_the_contract(tmp_path):
    shutil.copytree(REPO / "engine", tmp_path / "engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    records = tmp_path / "engine" / "records.py"
    records.write_text(records.read_text() + "\nfrom engine.batch import decide  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([str(LINT), "--no-cache"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stdout
    assert "engine.records is not allowed to import engine.batch" in done.stdout


def test_no_function_imports_a_module_of_engine():
    """Imports inside functions are kept for optional heavy dependencies (dask, tqdm, ...):
    an ``engine`` import belongs at the top, where the graph a reader sees is the real one."""
    inside = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
                    inside.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.module}")
                elif isinstance(node, ast.Import) and any(
                        a.name.startswith("engine") for a in node.names):
                    inside.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert inside == []


def test_no_test_module_imports_another():
    """Shared test data and helpers live in helper modules (``tests/factories.py``,
    ``tests/reportdata.py``, ...), so a test module can be read, run or removed alone."""
    crossing = []
    for path in sorted((REPO / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            crossing += [f"{path.name}:{node.lineno}: {name}" for name in names
                         if name.split(".")[-1].startswith("test_")]
    assert crossing == []


def test_modules_and_functions_stay_small():
    """No module of ``engine`` over 600 lines, no function over 80: each reads at one sitting."""
    large = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        text = path.read_text()
        where = path.relative_to(REPO)
        if text.count("\n") > 600:
            large.append(f"{where}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    node.end_lineno - node.lineno + 1 > 80:
                large.append(f"{where}:{node.lineno}: {node.name} has "
                             f"{node.end_lineno - node.lineno + 1} lines")
    assert large == []
