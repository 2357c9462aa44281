"""Which run a resumable ``work/`` folder belongs to: a key over everything a training job reads.

A killed training job resumes from ``work/last.pt``; a job started after anything it reads changed must
not. The key hashes the job's params, the content of every code file it imports
(:func:`vqhps.infra.code_deps.stage_code`) and a fingerprint of every declared input (path, size and
modification time of each file: a rewritten shard set or a retrained tokenizer changes it, and reading
a 100 GB image set to hash it would cost minutes at every start).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vqhps.infra.code_deps import PACKAGE_DIR, REPO_PREFIX, stage_code
from vqhps.io.atomic import write_text_atomic
from vqhps.io.digest import file_sha256

KEY_FILE = "run_key"


def input_fingerprint(path: Path) -> list[tuple[str, int, int]]:
    """(relative path, size in bytes, mtime in ns) of ``path`` or of every file under it, sorted.

    A missing input gives an empty list (the stage itself reports it).
    """
    if path.is_file():
        st = path.stat()
        return [(path.name, st.st_size, st.st_mtime_ns)]
    if not path.is_dir():
        return []
    out = []
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        st = f.stat()
        out.append((f.relative_to(path).as_posix(), st.st_size, st.st_mtime_ns))
    return out


def code_digests(stage: str) -> dict[str, str]:
    """Repository path -> sha256 of every code/data file of the stage's import closure."""
    return {rel: file_sha256(PACKAGE_DIR / rel[len(REPO_PREFIX) + 1 :]) for rel in stage_code(stage)}


def job_key(params: dict[str, Any], stage: str, inputs: Iterable[Path]) -> str:
    """The key of one training job: sha256 over params, code digests and input fingerprints."""
    payload = {
        "params": params,
        "code": code_digests(stage),
        "inputs": {str(p): input_fingerprint(Path(p)) for p in inputs},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def claim_work_dir(work: Path, key: str) -> bool:
    """Make ``work/`` this run's: keep it when its key is ``key``, else empty it; record ``key``.

    Returns:
        True when a ``work/`` of another run (or one without a key) was discarded.
    """
    key_file = work / KEY_FILE
    discarded = False
    if work.exists():
        found = key_file.read_text().strip() if key_file.is_file() else None
        if found != key:
            shutil.rmtree(work)
            discarded = True
    work.mkdir(parents=True, exist_ok=True)
    if not key_file.is_file():
        write_text_atomic(key_file, key + "\n")
    return discarded
