"""The stages' speed settings (glibc's allocator), applied however a stage is started.

glibc keeps large freed blocks instead of returning each one to the OS when ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_TOP_PAD_`` are set: fewer page faults in the Mesh-VQ-VAE's large
tensors (``benchmarks/bench_mesh_vqvae.py``: x1.3 on a quiet machine, and the default allocator's Adam step
collapsed 4-5x under load where the tuned one did not). glibc reads them only when a process starts, and
only ``make`` exports them; so a stage started any other way (plain ``snakemake``, ``dvc repro``, SLURM)
re-executes itself once, at the top of ``stage_main``, with the missing ones added. The values are in bytes:
this glibc reads ``16G`` as 16 bytes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

SPEED_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(16 << 30),  # no mmap per large block (16 GiB)
    "MALLOC_TRIM_THRESHOLD_": str(16 << 30),  # no trimming of the heap top
    "MALLOC_TOP_PAD_": str(1 << 30),  # grow the heap 1 GiB at a time
}
# Set in the re-executed process (so it never re-executes twice). Set it beforehand (any value) to keep
# glibc's defaults, e.g. to measure them.
GUARD = "VQHPS_SPEED_ENV"


def missing_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The speed settings absent from ``environ`` (those present, from make or a user, are kept)."""
    return {name: value for name, value in SPEED_ENV.items() if name not in environ}


def ensure_speed_env(argv: Sequence[str] | None) -> None:
    """Re-execute this process once with the missing speed settings, before any heavy work.

    Only for a stage started from a command line (``argv is None``, a replayable ``sys.orig_argv``): a
    stage called in-process (tests, notebooks) or an interactive session is left alone. The process keeps
    its id, arguments, working directory and open standard streams, so Snakemake, DVC and SLURM see the
    same job. Returns without doing anything when nothing is missing or ``VQHPS_SPEED_ENV`` is set.
    """
    if argv is not None or GUARD in os.environ or not _replayable():
        return
    missing = missing_settings(os.environ)
    if not missing:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, **missing, GUARD: "1"})


def _replayable() -> bool:
    """Whether running ``sys.orig_argv`` again starts the same program (not a REPL, not a read stdin)."""
    return (
        sys.platform.startswith("linux")  # the settings are glibc's
        and not sys.flags.interactive
        and len(sys.orig_argv) > 1
        and sys.argv[0] not in ("", "-")
    )
