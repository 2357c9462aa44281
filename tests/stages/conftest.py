"""The paper's data stages on a good mini data root, shared by the bad-file and the output tests."""

from __future__ import annotations

import pytest
import yaml

from helpers.mini_root import build_mini_root, link_tree, mini_root_params, paper_argv
from vqhps.stages import check_data, prepare_meshes


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """A good mini data root, params pointing at a linked copy of it, and results holding prepare_meshes.

    Returns ``(base root, linked data root, params.yaml, results)``; a test that breaks a file of the linked
    root re-links it first (``link_tree(base, data)``), the base is never changed.
    """
    base = build_mini_root(tmp_path_factory.mktemp("mini_root"))
    top = tmp_path_factory.mktemp("project")
    data = top / "data"
    params = top / "params.yaml"
    params.write_text(yaml.safe_dump(mini_root_params(data)))
    link_tree(base, data)
    results = top / "results"
    for stage in (check_data, prepare_meshes):  # what prepare_images needs, made from the good root
        assert stage.main(paper_argv(params, results)) == 0, stage.__name__
    return base, data, params, results
