"""Declarative dataset manifests and the engine that checks one against a folder (never stops early)."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from vqhps.ingest.layout import absent_folder_hint
from vqhps.io.digest import file_sha256 as file_digest
from vqhps.io.errors import DataFileError

__all__ = [
    "Item",
    "Manifest",
    "Problem",
    "ItemResult",
    "check_manifest",
    "file_digest",
    "listing_digest",
]

SMALL_FILE_BYTES = 50 * 2**20  # files below this get a sha256 in the record
CHECK_THREADS = 4  # files validated at once per item (I/O overlap; unpickling itself holds the GIL)

Validator = Callable[[Path], "str | None"]


@dataclass(frozen=True)
class Item:
    """One expected thing inside a dataset folder.

    Attributes:
        pattern: path or glob (``**`` allowed) relative to the dataset folder.
        what: what it is, for the message ("3DPW training sequence pickles").
        count: exact number of matches required; None = at least ``min_count``.
        min_count: minimum number of matches when ``count`` is None.
        kind: "file" or "dir" (a dir must also be non-empty).
        hash_files: sha256 each small match in the record; False = digest of the listing (names + sizes) only,
            for huge sets such as image folders.
        validate: content check of one match (the stages' own reader); returns a problem text or None.
        validate_sample: with ``--quick``, validate only this many matches (evenly spaced); None = all.
            Without ``--quick`` every match is validated.
        exclude: matches whose relative path contains this text are ignored (AMASS ``shape.npz``).
    """

    pattern: str
    what: str
    count: int | None = None
    min_count: int = 1
    kind: str = "file"
    hash_files: bool = True
    validate: Validator | None = None
    validate_sample: int | None = None
    exclude: str = ""


@dataclass(frozen=True)
class Manifest:
    """Everything one dataset must provide, where it comes from and where it goes.

    Attributes:
        name: dataset id used in params and messages ("3dpw").
        title: human name.
        url: registration / download page.
        folder: where to put it, relative to the data root.
        breaks: what fails without it.
        items: expected files and folders.
        how: extra instructions (archive to unpack, renames).
        optional: problems are reported but do not fail the check.
        locate: resolves the dataset folder from the data root (default ``data_root / folder``).
        cross_checks: checks across files, each returning ``[(relative path, problem)]``.
        aliases: folder names the download unpacks to (``3DPW``); when the dataset folder is absent and one
            of these (or the folder name in another case) is beside it, the message says what to ``mv``.
    """

    name: str
    title: str
    url: str
    folder: str
    breaks: str
    items: tuple[Item, ...]
    how: str = ""
    optional: bool = False
    locate: Callable[[Path], Path] | None = None
    cross_checks: tuple[Callable[[Path], list[tuple[str, str]]], ...] = field(default_factory=tuple)
    aliases: tuple[str, ...] = ()

    def root(self, data_root: Path) -> Path:
        """The folder this dataset lives in."""
        return self.locate(data_root) if self.locate else Path(data_root) / self.folder


@dataclass(frozen=True)
class Problem:
    """One missing or malformed item."""

    dataset: str
    path: str
    problem: str
    url: str
    target: str
    optional: bool = False


@dataclass
class ItemResult:
    """Matches of one item (for the record)."""

    item: Item
    matches: list[Path]


def _matches(root: Path, item: Item) -> list[Path]:
    if not any(ch in item.pattern for ch in "*?["):
        path = root / item.pattern
        ok = path.is_dir() if item.kind == "dir" else path.is_file()
        return [path] if ok else []
    found = [
        p for p in root.glob(item.pattern) if not item.exclude or item.exclude not in str(p.relative_to(root))
    ]
    if item.kind == "dir":
        return sorted(p for p in found if p.is_dir())
    return sorted(p for p in found if p.is_file())


def _sample(paths: list[Path], k: int | None) -> list[Path]:
    if k is None or len(paths) <= k:
        return paths
    idx = sorted({round(i * (len(paths) - 1) / max(k - 1, 1)) for i in range(k)})
    return [paths[i] for i in idx]


def _validate(item: Item, path: Path) -> str | None:
    """Run ``item.validate`` on ``path``; any error becomes a problem text (a download never crashes it)."""
    try:
        return item.validate(path)
    except DataFileError as err:  # the readers' own message, without repeating the file
        if err.path == str(path):
            return err.problem()
        member = err.path.removeprefix(str(path))
        return f"member {member}: {err.problem()}" if member.startswith("[") else str(err)
    except Exception as exc:
        return f"could not be read ({type(exc).__name__}: {exc})"


def _check_item(root: Path, item: Item, quick: bool = False) -> tuple[list[tuple[str, str]], list[Path]]:
    """Problems ``[(relative path, text)]`` and the matches of one item."""
    matches = _matches(root, item)
    problems: list[tuple[str, str]] = []
    noun = "folder" if item.kind == "dir" else "file"
    if item.count is not None and len(matches) != item.count:
        problems.append((item.pattern, f"{item.what}: expected {item.count} {noun}(s), found {len(matches)}"))
    elif item.count is None and len(matches) < item.min_count:
        need = "missing" if item.min_count == 1 and not matches else f"expected at least {item.min_count}"
        problems.append((item.pattern, f"{item.what}: {need} (found {len(matches)})"))
    for m in matches:
        if item.kind == "dir" and not any(m.iterdir()):
            problems.append((str(m.relative_to(root)), f"{item.what}: folder is empty"))
    if item.validate is not None:
        todo = _sample(matches, item.validate_sample if quick else None)
        quiet = len(todo) < 10 or not sys.stderr.isatty()
        # Threads overlap the file reads (a cold cache or a network disk); the order of the problems is kept.
        with ThreadPoolExecutor(max(1, min(CHECK_THREADS, len(todo)))) as pool:
            texts = pool.map(lambda m: _validate(item, m), todo)
            for m, text in tqdm(
                zip(todo, texts, strict=True), total=len(todo), desc=item.what, unit="file", disable=quiet
            ):
                if text:
                    problems.append((str(m.relative_to(root)), f"{item.what}: {text}"))
    return problems, matches


def check_manifest(
    manifest: Manifest, data_root: Path, quick: bool = False
) -> tuple[list[Problem], list[ItemResult]]:
    """Check every item and cross-check of one manifest; collect all problems, raise nothing.

    Args:
        quick: validate only ``Item.validate_sample`` files per item (else every file the stages read).
    """
    try:
        root = manifest.root(Path(data_root))
    except Exception as exc:  # e.g. a package that cannot be located
        root, located = Path(data_root) / manifest.folder, str(exc)
    else:
        located = ""
    target = str(root)

    def problem(path: str, text: str) -> Problem:
        return Problem(manifest.name, path, text, manifest.url, target, manifest.optional)

    if located:
        return [problem(manifest.folder, located)], []
    if not root.is_dir():
        hint = absent_folder_hint(root, manifest.aliases)
        items = [
            problem(i.pattern, f"{i.what}: missing ({hint if k == 0 else 'dataset folder absent'})")
            for k, i in enumerate(manifest.items)
        ]
        return items, []
    problems: list[Problem] = []
    results: list[ItemResult] = []
    for item in manifest.items:
        found, matches = _check_item(root, item, quick)
        problems += [problem(p, t) for p, t in found]
        results.append(ItemResult(item, matches))
    for check in manifest.cross_checks:
        try:
            problems += [problem(p, t) for p, t in check(root)]
        except Exception as exc:
            problems.append(problem(".", f"cross-check {check.__name__} failed: {type(exc).__name__}: {exc}"))
    return problems, results


def listing_digest(root: Path, paths: list[Path]) -> str:
    """sha256 of the sorted ``relative path<TAB>size`` lines: detects added, removed or resized files."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(f"{p.relative_to(root).as_posix()}\t{os.path.getsize(p)}\n".encode())
    return h.hexdigest()


def record_entry(manifest: Manifest, data_root: Path, results: list[ItemResult]) -> dict:
    """JSON-able record of one checked dataset: per item counts, bytes and digests."""
    root = manifest.root(Path(data_root))
    items = {}
    n_files = n_bytes = 0
    for res in results:
        files = [
            f for m in res.matches for f in ([m] if m.is_file() else sorted(m.rglob("*"))) if f.is_file()
        ]
        size = sum(os.path.getsize(f) for f in files)
        entry: dict = {"files": len(files), "bytes": size, "listing_sha256": listing_digest(root, files)}
        if res.item.hash_files:
            entry["sha256"] = {
                f.relative_to(root).as_posix(): file_digest(f)
                for f in files
                if os.path.getsize(f) < SMALL_FILE_BYTES
            }
        items[res.item.pattern] = entry
        n_files, n_bytes = n_files + len(files), n_bytes + size
    return {"root": str(root), "files": n_files, "bytes": n_bytes, "items": items}
