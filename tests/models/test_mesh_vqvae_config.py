"""The Mesh-VQ-VAE's torch-free architecture settings: checkpoint dicts and their checks."""

from __future__ import annotations

import pytest

from vqhps.models.mesh_vqvae_config import MeshVQVAEConfig


def test_dict_round_trip_keeps_the_checkpoint_format():
    config = MeshVQVAEConfig(channels=(8, 16, 4), codebook_size=32, dead_code_restart=True)
    d = config.to_dict()
    assert d["channels"] == [8, 16, 4]
    assert d["eps"] == 1e-5 and d["dead_code_threshold"] == 1e-3  # written as before the move
    # the key order of the checkpoints written before the move, so a checkpoint keeps its bytes
    assert list(d) == [
        "channels",
        "n_basis",
        "codebook_size",
        "beta",
        "decay",
        "eps",
        "dead_code_restart",
    ] + [
        "dead_code_threshold",
        "data_init",
    ]
    assert MeshVQVAEConfig.from_dict(d) == config


def test_from_dict_refuses_other_quantiser_constants_and_unknown_keys():
    with pytest.raises(ValueError, match="eps"):
        MeshVQVAEConfig.from_dict({"eps": 1e-4})
    with pytest.raises(ValueError, match="n_basiss"):
        MeshVQVAEConfig.from_dict({"n_basiss": 9})


def test_missing_keys_are_the_papers():
    assert MeshVQVAEConfig.from_dict({}) == MeshVQVAEConfig()
    assert MeshVQVAEConfig().channels == (32, 64, 128, 9) and MeshVQVAEConfig().codebook_size == 512


@pytest.mark.parametrize(
    "kwargs, key",
    [({"channels": ()}, "channels"), ({"channels": (8, 0)}, "channels"), ({"n_basis": 0}, "n_basis")]
    + [({"decay": 1.0}, "decay"), ({"beta": -0.1}, "beta")],
)
def test_bad_values_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        MeshVQVAEConfig(**kwargs)
