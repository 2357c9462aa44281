"""The one home of test helpers (pyproject.toml: ``pythonpath = ["tests"]``; ``from helpers.e2e import run``).

Fixture writers of the licensed formats (``body_fixtures``, ``py2_pickle``, ``realdata_fixtures``,
``release_fixtures``, ``mini_root``, ``original_ckpt``), tiny meshes and image sets made in code (``meshes``,
``image_fixtures``, ``rendered_fixtures``), hand-made stage outputs (``fake_metrics``), and the runners of the
pipeline, the README's commands and the repository's tools (``e2e``, ``readme``, ``tools``). No real data.
"""
