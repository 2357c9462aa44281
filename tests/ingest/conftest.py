"""The small format-faithful data root shared by the image-set and mesh-set tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.mini_root import build_mini_root


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory) -> Path:
    return build_mini_root(tmp_path_factory.mktemp("mini_root"))
