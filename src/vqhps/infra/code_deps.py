"""The code a stage runs: the import closure of its stage module inside ``src/vqhps``.

A stage's DVC/Snakemake code deps are derived, not listed by hand: every ``vqhps`` module its stage module
imports, directly or through other modules, at module level or inside a function, plus the package
``__init__`` files on the way and the package data files those modules read (:data:`DATA_FILES`). A
conservative superset (a module imported only under ``TYPE_CHECKING`` counts too): re-running a stage
that did not need it is cheaper than a stale result.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "vqhps"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/vqhps (this file is in its infra/)
REPO_PREFIX = "src/vqhps"  # how the package folder is named from the repository root

# Non-Python files of the package, keyed by the module that reads them. A test fails when a data file
# under src/vqhps is missing here, so a new one cannot be read without being a dependency.
DATA_FILES: dict[str, tuple[str, ...]] = {
    "vqhps.eval.tables": ("eval/__init__.py", "eval/paper_numbers.csv"),  # read via vqhps.eval
}


def module_file(name: str, root: Path = PACKAGE_DIR) -> Path | None:
    """File of dotted module ``name`` (``vqhps.a.b``) under package folder ``root``; None if none."""
    parts = name.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path, name: str) -> set[str]:
    """Dotted names a module imports (absolute and relative forms), including ``from m import sub``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in found if n == PACKAGE or n.startswith(PACKAGE + ".")}


def import_closure(module: str, root: Path = PACKAGE_DIR) -> set[str]:
    """Dotted names of every package module ``module`` needs (itself and its parent packages included)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ first
            prefix = ".".join(parts[:i])
            path = module_file(prefix, root)
            if path is None or prefix in seen:
                continue
            seen.add(prefix)
            todo.extend(_imported_names(path, prefix))
    return seen


@functools.cache
def stage_code(stage: str) -> tuple[str, ...]:
    """Repository paths of the code and package data stage ``stage`` reads, sorted.

    >>> "src/vqhps/cli.py" in stage_code("make_tables")
    True
    """
    modules = import_closure(f"{PACKAGE}.stages.{stage}")
    files = {_repo_path(module_file(m)) for m in modules}
    for m in modules:
        files.update(f"{REPO_PREFIX}/{rel}" for rel in DATA_FILES.get(m, ()))
    return tuple(sorted(files))


def _repo_path(path: Path | None) -> str:
    assert path is not None
    return f"{REPO_PREFIX}/{path.relative_to(PACKAGE_DIR).as_posix()}"
