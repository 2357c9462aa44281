"""Stage train_baseline: the regression baseline on the image set, once per regime (``--regime full|scarce``).

Same backbone, crops, augmentation, optimiser, regimes and training images as ``train_vqhps`` (same
seeds, the same run: :mod:`vqhps.stages.image_training`, params ``image_training``), but the canonical
mesh is regressed directly (template + learned low-rank vertex offsets, params ``train_baseline.model``)
with a vertex + joint + rotation + reprojection loss: the comparison behind the paper's claim that
classification in token space beats regression when data is scarce. Outputs in
``train_baseline/<regime>/``: ``model.pt`` (self-describing), ``curves.csv``, metrics.
"""

from __future__ import annotations

import sys

from vqhps.cli import StageContext, stage_main
from vqhps.infra.configtools import to_plain
from vqhps.stages.image_training import backbone_fields, run_image_stage

STAGE = "train_baseline"


class BaselineModel:
    """The regression baseline for :func:`run_image_stage`: VQ-HPS's backbone and rotation/camera branch,
    canonical vertices = the centred template + low-rank offsets."""

    def prepare(self, ctx: StageContext, topology) -> None:
        """Nothing besides the images."""

    def build(self, ctx: StageContext, topology, rest):
        import torch

        from vqhps.models.regression import MeshRegressor, RegressionConfig
        from vqhps.training.image_tasks import BaselineTask

        config = RegressionConfig(
            **backbone_fields(ctx.params.section("image_training")), **to_plain(ctx.section.model)
        )
        template = torch.from_numpy(
            topology.vertices - topology.vertices.mean(0)
        )  # centred, like the GT meshes
        model = MeshRegressor(config, template, rest)
        weights = ctx.section.loss_weights
        return model, config, BaselineTask(torch.from_numpy(topology.joint_regressor), weights)

    def checkpoint_extra(self, regime: str, rest, topology) -> dict:
        from vqhps.models.pretrained import baseline_extra

        return baseline_extra(regime, rest, topology)

    def metrics(self) -> dict[str, float]:
        return {}


def run(ctx: StageContext) -> dict[str, float]:
    return run_image_stage(ctx, BaselineModel())


def main(argv: list[str] | None = None) -> int:
    return stage_main(STAGE, run, argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
