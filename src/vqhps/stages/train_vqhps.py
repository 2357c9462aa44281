"""Stage train_vqhps: VQ-HPS on the image set, once per regime (``--regime full|scarce``).

Reads the images and canonical GT meshes of ``render_images`` and the frozen tokenizer of
``train_mesh_vqvae`` (token count and codebook size come from it). GT tokens are computed on the fly
from each crop's (mirrored, when flipped) canonical mesh. Losses: token cross-entropy + rotation MSE +
L1 reprojection (weights in params). The scarce regime is the same run on a seeded fraction of the
train images (the same images as the baseline's scarce run). The run itself is the one both image stages
share (:mod:`vqhps.stages.image_training`, params ``image_training``); this module adds the token branch
(params ``train_vqhps.model``) and the tokenizer. Outputs in ``train_vqhps/<regime>/``: ``model.pt``
(self-describing, with its tokenizer), ``curves.csv`` and the metrics.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vqhps.cli import StageContext, UserError, stage_main
from vqhps.infra.configtools import to_plain
from vqhps.stages.image_training import backbone_fields, run_image_stage

STAGE = "train_vqhps"


@dataclass
class VQHPSModel:
    """VQ-HPS for :func:`run_image_stage`: token transformer over the backbone, frozen tokenizer decoder."""

    tokenizer: Path | None = None  # train_mesh_vqvae/model.pt
    vqvae: Any = field(default=None, repr=False)

    def prepare(self, ctx: StageContext, topology) -> None:
        from vqhps.models.mesh_vqvae_io import load_mesh_vqvae

        self.tokenizer = ctx.input("train_mesh_vqvae/model.pt")
        self.vqvae = load_mesh_vqvae(self.tokenizer)
        ctx.tracker.tag_upstream_model("tokenizer", self.tokenizer)  # its sha256 and the run that trained it
        if self.vqvae.n_vertices != len(topology.vertices):
            raise UserError(
                f"{self.tokenizer} was trained on {self.vqvae.n_vertices} vertices, the image set's meshes "
                f"have {len(topology.vertices)}; re-run train_mesh_vqvae"
            )

    def build(self, ctx: StageContext, topology, rest):
        import torch

        from vqhps.models.vqhps import VQHPS, VQHPSConfig
        from vqhps.training.image_tasks import VQHPSTask

        shared, own = ctx.params.section("image_training"), ctx.section
        config = VQHPSConfig(
            num_tokens=self.vqvae.n_tokens,
            codebook_size=self.vqvae.codebook_size,
            **backbone_fields(shared),
            **to_plain(own.model),
        )
        model = VQHPS(config, rest)
        regressor = torch.from_numpy(topology.joint_regressor)
        task = VQHPSTask(self.vqvae, regressor, own.loss_weights)
        return model, config, task

    def checkpoint_extra(self, regime: str, rest, topology) -> dict:
        from vqhps.models.pretrained import vqhps_extra

        return vqhps_extra(regime, rest, topology, self.tokenizer)

    def metrics(self) -> dict[str, float]:
        return {"n_tokens": self.vqvae.n_tokens}


def run(ctx: StageContext) -> dict[str, float]:
    return run_image_stage(ctx, VQHPSModel())


def main(argv: list[str] | None = None) -> int:
    return stage_main(STAGE, run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
