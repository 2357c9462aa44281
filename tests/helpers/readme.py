"""The commands the README shows: its ```bash blocks line by line, and inline `command` spans."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
# How an inline code span that is a command starts (a tool, or an environment assignment before one).
_COMMAND_START = re.compile(
    r"(?:make|snakemake|dvc|python|mlflow|git|source|conda|pip|\.venv/bin/\w+|\$EDITOR|[A-Z_]+=\S+) "
)


def _block_lines(block: str) -> list[str]:
    """Command lines of one block: continuations joined, comments and output lines (``# ...``) dropped."""
    lines = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+# .*$", "", line).strip()
        if line and not line.startswith("#"):
            lines.append(re.sub(r"\s+", " ", line))
    return lines


def readme_block(marker: str, readme: Path = README) -> list[str]:
    """The command lines of the README's bash block that contains ``marker``, in order."""
    blocks = re.findall(r"```bash\n(.*?)```", readme.read_text(), re.S)
    return _block_lines(next(b for b in blocks if marker in b))


def readme_commands(readme: Path = README) -> list[str]:
    """Every command the README shows (blocks first, then inline spans), each once, in order."""
    text = readme.read_text()
    found = [c for block in re.findall(r"```bash\n(.*?)```", text, re.S) for c in _block_lines(block)]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    found += [span for span in re.findall(r"`([^`\n]+)`", prose) if _COMMAND_START.match(span)]
    return list(dict.fromkeys(found))
