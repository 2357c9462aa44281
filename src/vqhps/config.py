"""The one parameter file, ``params.yaml``: typed, frozen, validated once.

Layout: one top-level mapping per *experiment* (``demo``, ``paper``), each holding a ``seed``,
a ``data_root`` and one section per stage. Stage names are the same everywhere (rule, DVC stage,
module ``vqhps.stages.<stage>``, params section, output folder ``results/<experiment>/<stage>``,
MLflow run). One section is shared: ``image_training``, read by ``train_vqhps`` and ``train_baseline``
beside their own (``model:`` and ``loss_weights``). Machine settings (device, workers, tracking URI)
are flags or environment variables, never params, so moving to another machine does not invalidate any
cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from vqhps.data.crop_config import Augment
from vqhps.infra.configtools import ConfigError, build, to_plain
from vqhps.models.mesh_vqvae_config import HierarchySettings, MeshVQVAEConfig
from vqhps.training.loss_weights import RegressionLossWeights, VQHPSLossWeights

EXPERIMENTS = ("demo", "paper")
# Names of vqhps.body.anny_body.TOPOLOGIES (not imported here: it needs torch; a test keeps them in step).
ANNY_TOPOLOGIES = ("default", "notoes", "notoes_collapse10pc", "notoes_collapse5pc", "notoes_collapse3pc")


@dataclass(frozen=True)
class CheckDataParams:
    """Which dataset manifests ``check_data`` verifies under ``data_root``."""

    datasets: tuple[str, ...]  # manifest names (vqhps.datacheck.MANIFESTS)
    options: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # per-manifest options, e.g. expected counts


@dataclass(frozen=True)
class MakeSyntheticParams:
    """Anny meshes standing in for AMASS motions."""

    topology: str  # anny topology name: "default" (13,718 vertices) or a decimated one
    n_meshes: int  # number of canonical, centred meshes to generate
    batch_size: int  # meshes per Anny forward pass

    def __post_init__(self) -> None:
        _positive(self, "n_meshes", "batch_size")
        if self.topology not in ANNY_TOPOLOGIES:
            raise ConfigError(
                f"topology: {self.topology!r} is not an Anny topology; choose one of {ANNY_TOPOLOGIES}"
            )


@dataclass(frozen=True)
class PrepareMeshesParams:
    """Meshes -> Parquet shards with train/val/test splits."""

    split_fractions: dict[str, float]  # fractions for train, val, test; must sum to 1
    shard_size: int  # meshes per Parquet file
    row_group_size: int  # meshes per row group (the zero-copy read unit)
    compression: Literal["none", "zstd"]
    # Paper-only keys (defaults keep the demo section valid): where meshes come from and how they are built.
    source: Literal["synthetic", "bedlam_animations", "amass"] = "synthetic"  # synthetic: make_synthetic
    amass_subsets: tuple[str, ...] = ()  # source amass: subset folders under <data_root>/amass; () = all
    frame_stride: int = 1  # motion sources: store every k-th frame of every motion file (1 = every frame)
    num_betas: int = 10  # motion sources: betas used (10 as the paper, up to 16 for SMPL-H files)
    eval_meshes: Literal["none", "3dpw"] = "none"  # 3dpw: val/test = canonical meshes of 3DPW val/test people
    eval_frame_stride: int = 1  # eval_meshes 3dpw: keep every k-th frame of each sequence (1 = all)

    def __post_init__(self) -> None:
        _positive(self, "shard_size", "row_group_size")
        _positive(self, "frame_stride", "eval_frame_stride")
        if not 1 <= self.num_betas <= 16:
            raise ConfigError(f"num_betas: {self.num_betas} is outside 1..16 (SMPL-H files hold 16 betas)")
        if self.source == "synthetic" and (self.eval_meshes != "none" or self.amass_subsets):
            raise ConfigError("eval_meshes, amass_subsets: for motion sources only (source is synthetic)")
        if set(self.split_fractions) != {"train", "val", "test"}:
            raise ConfigError(
                f"split_fractions: keys must be exactly train, val, test; got {sorted(self.split_fractions)}"
            )
        if abs(sum(self.split_fractions.values()) - 1.0) > 1e-6 or min(self.split_fractions.values()) < 0:
            raise ConfigError("split_fractions: fractions must be >= 0 and sum to 1")


@dataclass(frozen=True)
class RenderImagesParams:
    """The synthetic image set: posed meshes rendered onto random backgrounds."""

    image_size: int  # square render size, pixels
    views_per_mesh: int  # renders of each mesh (each with its own rotation, camera, background)
    max_meshes: dict[str, int]  # per split, how many meshes to render (0 = none, -1 = all)
    image_format: Literal["jpeg", "png"]
    jpeg_quality: int  # 1..100, used for jpeg only
    shard_size: int  # images per Parquet file
    # clothes: face/hair, shirt, trousers, shoes in random colours per image (vqhps.render.garments);
    # uniform: one random colour for the whole figure (front and back look alike)
    appearance: Literal["clothes", "uniform"] = "clothes"

    def __post_init__(self) -> None:
        _positive(self, "image_size", "views_per_mesh", "shard_size")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality: {self.jpeg_quality} is outside 1..100")
        bad = sorted(set(self.max_meshes) - {"train", "val", "test"})
        if bad:
            raise ConfigError(f"max_meshes: unknown split(s) {bad}; allowed: train, val, test")
        _counts(self.max_meshes, "max_meshes")


# Image sets prepare_images knows (vqhps.ingest.image_sets.IMAGE_SETS; a test keeps the two in step).
IMAGE_SETS = (
    "coco", "mpii", "h36m_train", "mpi_inf_3dhp_train",  # BEDLAM/CLIFF real-image labels (reference §3.3)
    "3dpw_train", "3dpw_validation", "3dpw_test", "emdb1", "emdb2_train", "emdb2_val",
)  # fmt: skip


@dataclass(frozen=True)
class PrepareImagesParams:
    """The paper's image set: real-image crops + labels (image shards) and their GT meshes (mesh shards)."""

    splits: dict[str, tuple[str, ...]]  # split -> image sets (IMAGE_SETS) whose rows go to that split
    crop_size: int  # side of the original's crop box in the stored crop, px (the network input, paper 224)
    jpeg_quality: int  # 1..100
    emdb2_val_fraction: float  # share of EMDB-2 sequences held out for emdb2_val (seeded split)
    shard_size: int  # images per Parquet file
    row_group_size: int  # images per row group
    max_rows: dict[str, int] = field(default_factory=dict)  # per image set: seeded subsample; absent/-1 = all
    num_betas: int = 10  # betas of the GT meshes (the label sets and 3DPW/EMDB carry 10)
    chunk_size: int = 256  # rows built per step (bounds memory: meshes are 82 KB each)
    context: float = 1.0  # stored crop side / the original's box side (image context for augmentation)

    def __post_init__(self) -> None:
        _positive(self, "crop_size", "shard_size", "row_group_size", "chunk_size", "num_betas")
        if not 1.0 <= self.context <= 4.0:
            raise ConfigError(f"context: {self.context} must be in [1, 4] (1 = the original's box alone)")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality: {self.jpeg_quality} is outside 1..100")
        if not 0.0 < self.emdb2_val_fraction < 1.0:
            raise ConfigError(f"emdb2_val_fraction: {self.emdb2_val_fraction} must be in (0, 1)")
        bad_splits = sorted(set(self.splits) - {"train", "val", "test"})
        if bad_splits:
            raise ConfigError(f"splits: unknown split(s) {bad_splits}; allowed: train, val, test")
        listed = [s for sets in self.splits.values() for s in sets]
        unknown = sorted(set(listed + list(self.max_rows)) - set(IMAGE_SETS))
        if unknown:
            raise ConfigError(f"splits/max_rows: unknown image set(s) {unknown}; known: {list(IMAGE_SETS)}")
        _counts(self.max_rows, "max_rows")
        twice = sorted({s for s in listed if listed.count(s) > 1})
        if twice:
            raise ConfigError(f"splits: image set(s) {twice} listed more than once; each goes to one split")


Precision = Literal["fp32", "bf16", "auto"]  # vqhps.training.precision.PRECISIONS


@dataclass(frozen=True)
class TrainMeshVQVAEParams:
    """Mesh-VQ-VAE optimisation (paper: Adam, lr 5e-5, batch 16)."""

    hierarchy: HierarchySettings  # vqhps.models.mesh_vqvae_config
    model: MeshVQVAEConfig  # vqhps.models.mesh_vqvae_config
    steps: int  # optimiser steps
    batch_size: int  # meshes per step
    lr: float  # Adam learning rate
    val_every: int  # validate (curves, checkpoint selection) every this many steps
    ckpt_every: int  # write the resumable checkpoint every this many steps
    max_val_meshes: int  # validate on at most this many val meshes (-1 = all)
    # cosine: lr falls to 0 over ``steps`` (paper: constant)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    precision: Precision = "auto"  # fp32 (the original), bf16 autocast, auto = bf16 on CUDA only

    def __post_init__(self) -> None:
        _positive(self, "steps", "batch_size", "lr", "val_every", "ckpt_every")
        _counts({"max_val_meshes": self.max_val_meshes}, "")


@dataclass(frozen=True)
class TokenizeMeshesParams:
    """Token extraction with the trained Mesh-VQ-VAE (token count, codebook size: from its checkpoint)."""

    batch_size: int  # meshes per forward pass
    shard_size: int  # token rows per Parquet file
    pve_sample: int | None = None  # meshes per split whose pve_mm is measured (seeded); null = every mesh
    precision: Precision = "auto"  # of the encoder pass (the GT tokens): fp32, bf16 or auto

    def __post_init__(self) -> None:
        _positive(self, "batch_size", "shard_size")
        if self.pve_sample is not None:
            _positive(self, "pve_sample")


@dataclass(frozen=True)
class RegimeParams:
    """One training regime: which train images a run uses (the scarce-data run is a restricted set)."""

    sources: tuple[str, ...]  # image ``source`` values kept (demo: [anny]; paper scarce run: [3dpw])
    fraction: float  # seeded subset of the kept train images, in (0, 1] (1 = all of them)
    steps: int | None = None  # overrides ``image_training.steps`` for this regime (null = same)
    val_sources: tuple[str, ...] | None = None  # val images' sources (null = ``sources``; paper: [3dpw])
    label: str | None = None  # the tables' "Training data" cell (null = the regime's name)
    # test images' sources the regime is reported on (null = every test source; paper scarce: [3dpw], the
    # EMDB scarce-data run: [emdb1]) and the table its rows go to (null = the regime's own; e.g. scarce)
    test_sources: tuple[str, ...] | None = None
    table: str | None = None
    # per-source sampling weights of the training mixture, normalised (null = 1/len(sources) each, the
    # original's MixedDataset); an epoch is then the largest source's rows, as the original's
    weights: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and set(self.weights) != set(self.sources):
            raise ConfigError(
                f"weights: name exactly the sources {sorted(self.sources)}, got {sorted(self.weights)}"
            )
        if self.weights is not None and (min(self.weights.values()) < 0 or sum(self.weights.values()) <= 0):
            raise ConfigError(f"weights: must be >= 0 with a positive sum, got {self.weights}")
        if self.test_sources is not None and not self.test_sources:
            raise ConfigError("test_sources: list at least one test source (e.g. [emdb1]) or null for all")
        if self.table is not None and not re.fullmatch(r"[a-z][a-z0-9_]*", self.table):
            raise ConfigError(f"table: {self.table!r} must be a table name such as scarce (lower-case, _)")
        if not 0.0 < self.fraction <= 1.0:
            raise ConfigError(f"fraction: must be in (0, 1], got {self.fraction}")
        if not self.sources:
            raise ConfigError("sources: list at least one image source (e.g. [anny])")
        if self.steps is not None and self.steps <= 0:
            raise ConfigError(f"steps: must be > 0 or null, got {self.steps}")


@dataclass(frozen=True)
class StudyParams:
    """The scarce-data study (``snakemake study``): both image models per (fraction, seed), then its table.

    The params of the ``scarce_study`` stage. Every (fraction, seed) pair is one regime
    ``study_f<per mille>_s<seed>`` (:mod:`vqhps.eval.study`) trained by the same train_vqhps and
    train_baseline stages as ``regimes``; the seed names the image subset and the training seed. The
    ``scarce_study`` stage tests them all on the test split.
    """

    sources: tuple[str, ...]  # image sources of the training images (demo: [anny])
    fractions: tuple[float, ...]  # seeded shares of the train images, each in (0, 1], a multiple of 0.001
    seeds: tuple[int, ...]  # repeats per fraction (another image subset and training seed each)
    steps: int | None = None  # optimiser steps of every study run (null = ``image_training.steps``)
    bootstrap: int = 2000  # resamples of the 95 % interval (seeds and test images resampled together)
    max_test_images: int = -1  # test images per run (-1 = all)

    def __post_init__(self) -> None:
        if not self.sources or not self.fractions or not self.seeds:
            raise ConfigError("sources, fractions and seeds: list at least one each")
        for f in self.fractions:
            if not 0.0 < f <= 1.0 or abs(f * 1000 - round(f * 1000)) > 1e-9:
                raise ConfigError(f"fractions: {f} must be in (0, 1] and a multiple of 0.001 (e.g. 0.025)")
        if len(set(self.fractions)) != len(self.fractions) or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("fractions / seeds: each value once")
        if min(self.seeds) < 0:
            raise ConfigError(f"seeds: must be >= 0, got {list(self.seeds)}")
        if self.steps is not None and self.steps <= 0:
            raise ConfigError(f"steps: must be > 0 or null, got {self.steps}")
        _positive(self, "bootstrap")
        _counts({"max_test_images": self.max_test_images}, "")


@dataclass(frozen=True, kw_only=True)
class ImageTrainingParams:
    """``<experiment>.image_training``: what VQ-HPS and the regression baseline share, so that the paper's
    comparison differs in the mesh branch alone: backbone, rotation/camera branch, crops, augmentation,
    optimisation, validation and checkpoint cadence (both stages list this section as DVC params)."""

    backbone: str  # small_cnn (CPU demo), resnet50 or hrnet_w48 (paper)
    backbone_width: int  # small_cnn only: channels of its first stage
    pretrained: str | None = None  # local path of official backbone weights (null = random init)
    shared_backbone: bool  # one backbone for both branches (a CPU economy; the paper uses two)
    crop_size: int  # crop side in px, a multiple of 32 (paper: 224)
    bbox_rescale: float  # square crop side = rescale * max(bbox w, h), train, validation and test crops
    rotcam_hidden: int  # hidden width of the rotation/camera MLP (paper: 1024)
    rotcam_dropout: float = 0.5  # dropout in the rotation/camera MLP (the original: 0.5)
    # rot6d (the original) or matrix (9 numbers fitted as they are, SVD-projected: learns from scratch)
    rotation_output: Literal["rot6d", "matrix"] = "rot6d"
    augment: Augment  # train-time crop augmentation (vqhps.data.crop_config.Augment)
    batch_size: int  # images per optimiser step (over all GPUs) (paper: 32)
    steps: int | None  # optimiser steps; null: from ``epochs`` (a regime's ``steps`` overrides both)
    lr: float  # AdamW learning rate (paper: 1e-4)
    weight_decay: float  # AdamW weight decay (paper: 1e-3)
    lr_step: int | None  # StepLR period in optimiser steps; null: from ``lr_step_epochs``
    lr_gamma: float  # StepLR factor (paper: 0.1)
    val_every: int  # validate (curves) every this many steps
    ckpt_every: int  # resumable checkpoint every this many steps
    max_val_images: int  # validate on at most this many val images (-1 = all)
    precision: Precision = "auto"  # fp32 (the original), bf16 autocast, auto = bf16 on CUDA only
    # run length in the original's epochs (epoch = the largest training source's rows, batches of
    # batch_size, last partial batch dropped), turned into steps at run time from the data (logged)
    epochs: float | None = None
    lr_step_epochs: float | None = None  # StepLR period in epochs (paper: 100)
    # the weights model.pt keeps (and evaluate tests): the last step's, or the best 3DPW-val PVE's (the
    # original also saves model_best_v2v; README "Departures" says which the paper most likely used)
    checkpoint: Literal["last", "best"] = "last"

    def __post_init__(self) -> None:
        if self.steps is None and self.epochs is None:
            raise ConfigError("steps / epochs: give one of them (steps wins when both are set)")
        if self.lr_step is None and self.lr_step_epochs is None:
            raise ConfigError("lr_step / lr_step_epochs: give one of them (lr_step wins when both are set)")
        for key in ("steps", "lr_step", "epochs", "lr_step_epochs"):
            if getattr(self, key) is not None and getattr(self, key) <= 0:
                raise ConfigError(f"{key}: must be > 0 or null, got {getattr(self, key)}")
        _positive(self, "backbone_width", "crop_size", "rotcam_hidden", "batch_size", "lr", "bbox_rescale")
        _positive(self, "val_every", "ckpt_every")
        _in_range(self, "rotcam_dropout", 0.0, 1.0, high_open=True)
        if self.crop_size % 32:
            raise ConfigError(f"crop_size: must be a multiple of 32 (backbone stride), got {self.crop_size}")
        if self.weight_decay < 0 or not 0 < self.lr_gamma <= 1:
            raise ConfigError(
                f"weight_decay must be >= 0 and lr_gamma in (0, 1]; got {self.weight_decay}, {self.lr_gamma}"
            )
        _counts({"max_val_images": self.max_val_images}, "")


@dataclass(frozen=True)
class VQHPSModelParams:
    """The token branch of VQ-HPS (reference §3.1): a transformer decoder over backbone features."""

    d_model: int  # transformer width (paper: 512)
    heads: int  # attention heads (paper: 8)
    ffn: int  # feed-forward width (paper: 1024)
    dropout: float  # transformer dropout (paper: 0.2)

    def __post_init__(self) -> None:
        _positive(self, "d_model", "heads", "ffn")
        _in_range(self, "dropout", 0.0, 1.0, high_open=True)


@dataclass(frozen=True)
class TrainVQHPSParams:
    """VQ-HPS (reference §3.1-3.5): token transformer + rotation/camera branch, frozen tokenizer decoder.

    What it shares with the baseline (backbone, crops, optimiser) is ``image_training``."""

    model: VQHPSModelParams
    loss_weights: VQHPSLossWeights  # vqhps.training.loss_weights

    # where each key of the former flat layout (every field in the stage's own section) lives now
    MOVED_KEYS: ClassVar[dict[str, str]]


@dataclass(frozen=True)
class BaselineModelParams:
    """The mesh branch of the regression baseline: template + learned low-rank vertex offsets."""

    hidden: int  # hidden width of the coefficient MLP
    rank: int  # rank of the learned vertex-offset basis
    dropout: float  # dropout in the coefficient MLP

    def __post_init__(self) -> None:
        _positive(self, "hidden", "rank")
        _in_range(self, "dropout", 0.0, 1.0, high_open=True)


@dataclass(frozen=True)
class TrainBaselineParams:
    """The regression baseline: VQ-HPS's backbone and rotation/camera branch, the mesh regressed directly.

    What it shares with VQ-HPS (backbone, crops, optimiser) is ``image_training``."""

    model: BaselineModelParams
    loss_weights: RegressionLossWeights  # vqhps.training.loss_weights

    MOVED_KEYS: ClassVar[dict[str, str]]  # as TrainVQHPSParams.MOVED_KEYS


def _moved_keys(stage: str, model: type) -> dict[str, str]:
    """Flat-layout key -> the section that holds it now (``image_training`` or ``<stage>.model``)."""
    shared = {f.name: "image_training" for f in fields(ImageTrainingParams)}
    return shared | {f.name: f"{stage}.model" for f in fields(model)}


TrainVQHPSParams.MOVED_KEYS = _moved_keys("train_vqhps", VQHPSModelParams)
TrainBaselineParams.MOVED_KEYS = _moved_keys("train_baseline", BaselineModelParams)

# The stages that read ``image_training`` (src/vqhps/pipeline.py lists it as their shared DVC params section).
IMAGE_MODEL_STAGES = ("train_vqhps", "train_baseline")


# The names of vqhps.eval.protocols.PROTOCOLS (not imported here: it needs torch; a test checks they agree).
EVAL_PROTOCOLS = ("vqhps", "standard", "emdb")  # vqhps.eval.protocols.PROTOCOLS


def _check_protocols(protocols: tuple[str, ...]) -> None:
    bad = [p for p in protocols if p not in EVAL_PROTOCOLS]
    if not protocols or bad:
        raise ConfigError(
            f"protocols: {list(protocols)} must be a non-empty subset of {list(EVAL_PROTOCOLS)}"
        )


@dataclass(frozen=True)
class EvaluateParams:
    """Test-set evaluation of every trained model (VQ-HPS, baseline, both regimes) and of the oracle."""

    protocols: tuple[str, ...]  # evaluation protocols reported side by side (vqhps, standard)
    batch_size: int  # test images per forward pass
    max_test_images: int  # evaluate on at most this many test images (-1 = all)
    overlay_samples: int  # test images on the overlay sheet (predicted mesh beside the GT)
    overlay_size: int  # crop side of the overlay sheet, px (independent of the models' crop size)
    histogram_bins: int  # bins of the per-sample error histograms
    bootstrap_samples: int = 1000  # replicates of the 95 % bootstrap over test sequences
    released_max_per_source: int = -1  # released-weights rows: first N test images of each source (-1 = all)

    def __post_init__(self) -> None:
        _positive(
            self, "batch_size", "overlay_samples", "overlay_size", "histogram_bins", "bootstrap_samples"
        )
        _check_protocols(self.protocols)
        for name in ("max_test_images", "released_max_per_source"):
            value = getattr(self, name)
            if value == 0 or value < -1:
                raise ConfigError(f"{name}: must be > 0 or -1 (all), got {value}")


@dataclass(frozen=True)
class MakeTablesParams:
    """Labels of the measured rows of the main and scarce-data tables (numbers come from evaluate)."""

    data: Literal["synthetic demo", "paper datasets"]  # what the measured rows were computed on
    dataset: str  # test-set label of the measured rows (e.g. "Anny synthetic test")
    backbone: str  # backbone label of the measured image models
    protocols: tuple[str, ...]  # protocols shown (rows per protocol)

    def __post_init__(self) -> None:
        _check_protocols(self.protocols)


@dataclass(frozen=True)
class ExperimentParams:
    """All parameters of one experiment; sections are None where the experiment has no such stage."""

    seed: int  # master seed; every stage derives its own stream from it
    data_root: str  # folder holding the licence-gated downloads (relative to the repo root or absolute)
    check_data: CheckDataParams
    # training regimes: every image-training stage runs once per regime (``--regime <name>``), evaluate and
    # make_tables report each; the ONE list of regimes (Snakemake's and DVC's jobs are generated from it)
    regimes: dict[str, RegimeParams]
    make_synthetic: MakeSyntheticParams | None = None
    prepare_meshes: PrepareMeshesParams | None = None
    render_images: RenderImagesParams | None = None
    train_mesh_vqvae: TrainMeshVQVAEParams | None = None
    tokenize_meshes: TokenizeMeshesParams | None = None
    prepare_images: PrepareImagesParams | None = None
    # what train_vqhps and train_baseline share (backbone, crops, augmentation, optimiser)
    image_training: ImageTrainingParams | None = None
    train_vqhps: TrainVQHPSParams | None = None
    train_baseline: TrainBaselineParams | None = None
    evaluate: EvaluateParams | None = None
    make_tables: MakeTablesParams | None = None
    scarce_study: StudyParams | None = None  # the scarce-data study (``snakemake study``): its regimes

    def __post_init__(self) -> None:
        if not self.regimes:
            raise ConfigError("regimes: define at least one regime (e.g. full)")
        readers = [s for s in IMAGE_MODEL_STAGES if getattr(self, s) is not None]
        if readers and self.image_training is None:
            raise ConfigError(
                f"image_training: missing section; {' and '.join(readers)} read their backbone, crops, "
                "augmentation and optimiser from it (see params.yaml's demo.image_training)"
            )
        clash = [n for n in self.regimes if n.startswith("study_")]
        if clash:
            raise ConfigError(f"regimes.{clash[0]}: names starting with study_ are the scarce_study's")
        for name in self.regimes:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ConfigError(
                    f"regimes.{name}: a regime name is a folder and a job name; use lower-case letters, "
                    "digits and _ (e.g. scarce_emdb)"
                )

    def study_regimes(self) -> dict[str, RegimeParams]:
        """The regimes of the ``scarce_study`` section, name -> entry ({} without one; vqhps.eval.study)."""
        from vqhps.eval.study import expand_study

        return {} if self.scarce_study is None else expand_study(self.scarce_study)

    def regime_entry(self, name: str) -> RegimeParams:
        """A regime of ``regimes`` or of the study.

        Raises:
            ConfigError: no such regime (the message lists the defined ones).
        """
        if name in self.regimes:
            return self.regimes[name]
        study = self.study_regimes()
        if name in study:
            return study[name]
        extra = f" and {len(study)} study_* regimes" if study else ""
        raise ConfigError(f"--regime {name!r}: regimes defines {sorted(self.regimes)}{extra}")

    def section(self, stage: str) -> Any:
        """The params section of ``stage``; a clear error if this experiment has none."""
        value = getattr(self, stage, None)
        if value is None:
            raise ConfigError(f"this experiment has no '{stage}' section in params.yaml")
        return value


@dataclass(frozen=True)
class Params:
    """The whole of ``params.yaml``."""

    experiments: dict[str, ExperimentParams] = field(default_factory=dict)

    def experiment(self, name: str) -> ExperimentParams:
        if name not in self.experiments:
            raise ConfigError(
                f"experiment '{name}' is not in params.yaml; defined: {', '.join(sorted(self.experiments))}"
            )
        return self.experiments[name]


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``.

    Raises:
        FileNotFoundError: the file does not exist.
        ConfigError: unknown, missing or mistyped key; the message names the dotted key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: parameter file not found (run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw, source=str(path))


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    """Validate an already-parsed YAML tree (see :func:`load_params`)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of experiments ({', '.join(EXPERIMENTS)})")
    experiments = {}
    for name, section in raw.items():
        if name not in EXPERIMENTS:
            raise ConfigError(
                f"{source}: unknown top-level key '{name}'; allowed experiments: {', '.join(EXPERIMENTS)}"
            )
        try:
            experiments[name] = build(ExperimentParams, section, name)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
    return Params(experiments=experiments)


def section_dict(params: ExperimentParams, stage: str, shared: tuple[str, ...] = ()) -> dict[str, Any]:
    """Plain-dict copy of a stage section, of the ``shared`` sections it reads and of the seed (what a
    stage logs and checkpoints store)."""
    return {"seed": params.seed, **{name: to_plain(params.section(name)) for name in (stage, *shared)}}


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"{name}: must be > 0, got {value}")


def _in_range(obj: Any, name: str, low: float, high: float, high_open: bool = False) -> None:
    value = getattr(obj, name)
    if not (low <= value < high if high_open else low <= value <= high):
        upper = "inf" if high == float("inf") else f"{high:g}"
        raise ConfigError(f"{name}: {value} is outside [{low:g}, {upper}{')' if high_open else ']'}")


def _counts(counts: Any, key: str) -> None:
    """Counts where -1 means all: each must be >= -1 (``key`` prefixes the message)."""
    for name, value in counts.items():
        if value < -1:
            where = f"{key}.{name}" if key else name
            raise ConfigError(f"{where}: {value} is not a count; use a number >= 0, or -1 for all")
