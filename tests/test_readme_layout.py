"""The README's layout section names every package folder and top-level module of src/vqhps, and no other."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "vqhps"


def _layout_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1]
    return section.split("```", 2)[1]


def _tree() -> set[str]:
    folders = {f"{p.parent.name}/" for p in PACKAGE.glob("*/__init__.py")}
    modules = {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    return folders | modules


def test_layout_section_matches_the_package_tree() -> None:
    block = _layout_block()
    lines = block.split("src/vqhps/\n", 1)[1].split("\ntests/", 1)[0].splitlines()
    # the left column of each entry under src/vqhps/ (continuation lines start blank): "eval/", "cli.py"
    entries = [line for line in lines if re.match(r"  \S", line)]
    named = {w for line in entries for w in re.split(r"\s{2,}", line.strip())[0].split()}
    named = {"stages/" if w.startswith("stages/") else w for w in named}
    assert named == _tree(), (
        f"README layout lacks {sorted(_tree() - named)}, names missing {sorted(named - _tree())}"
    )
