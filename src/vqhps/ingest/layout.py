"""Where each download goes under the data root, the names its archive unpacks to, and what to run when
the project's folder is absent but the unpacked one is beside it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["UNPACKED_NAMES", "lookalike", "absent_folder_hint", "missing_folder_message"]

# Project folder (relative to the data root) -> folder names the official archives unpack to.
UNPACKED_NAMES: dict[str, tuple[str, ...]] = {
    "3dpw": ("3DPW", "3DPW_dataset"),
    "emdb": ("EMDB",),
    "amass": ("AMASS",),
    "bedlam_animations": ("BEDLAM_animations", "animations", "bedlam_animation_files"),
    "bedlam_real": ("real_training_labels", "bedlam_real_labels", "BEDLAM_real"),
    "body_models": ("models", "body_model"),
}


def lookalike(root: Path, aliases: tuple[str, ...] = ()) -> Path | None:
    """A folder beside ``root`` that looks like the unpacked download (an alias, or ``root``'s name in
    another case); None when there is none."""
    root = Path(root)
    if not root.parent.is_dir():
        return None
    names = {a.lower() for a in (*aliases, *UNPACKED_NAMES.get(root.name, ()), root.name)}
    found = sorted(p for p in root.parent.iterdir() if p.is_dir() and p.name.lower() in names and p != root)
    return found[0] if found else None


def absent_folder_hint(root: str | os.PathLike, aliases: tuple[str, ...] = ()) -> str:
    """What to say for an absent dataset folder: the look-alike beside it and the exact command, if any."""
    root = Path(root)
    other = lookalike(root, aliases)
    if other is None:
        return "dataset folder absent"
    return (
        f"dataset folder absent, but {other} is beside it: run `mv {other} {root}` "
        f"or `ln -s {other.name} {root}`"
    )


def missing_folder_message(root: str | os.PathLike, what: str) -> str:
    """``"<what>: <hint>"`` when ``root`` is absent (with the mv/ln -s to run), else ``what`` alone."""
    root = Path(root)
    return what if root.is_dir() else f"{what} ({absent_folder_hint(root)}; check_data lists what goes where)"
