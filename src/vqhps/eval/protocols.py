"""Named evaluation protocols: `vqhps` (centroid, 17 H36M joints), `standard` (H36M pelvis, 14 LSP joints),
`emdb` (mid-hip, 24 SMPL joints). Each protocol is a :class:`Protocol` naming its joints, alignment, joint
regressor, the ground truth it prescribes and who reports numbers under it. Definitions only (no torch, so
``make_tables`` reads them without a model); the errors under a protocol are :mod:`vqhps.eval.scoring`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Native H36M joint order of a (17, V) regressor such as SMPL's J_regressor_h36m (and the project's Anny one).
# Rows of SPIN's J_regressor_h36m.npy as its H36M_TO_J17 table names them (legs: rows 1-3 left, 4-6 right).
H36M_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "lhip", "lknee", "lankle", "rhip", "rknee", "rankle", "spine", "thorax",
    "neck_nose", "head", "lshoulder", "lelbow", "lwrist", "rshoulder", "relbow", "rwrist",
)  # fmt: skip
# SPIN's reordering of the H36M regressor output; its first 14 entries are the 14 LSP joints (ankles, knees,
# hips, wrists, elbows, shoulders, neck, head top) used by the SPIN/CLIFF protocol.
H36M_TO_J17: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9)
H36M_TO_J14: tuple[int, ...] = H36M_TO_J17[:14]
H36M_PELVIS = 0

METRIC_KEYS: tuple[str, ...] = ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm")


# SMPL's 24 kinematic joints (rows of SMPL's own ``J_regressor``); EMDB's pelvis is the mid-hip (1, 2).
SMPL24_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "lhip", "rhip", "spine1", "lknee", "rknee", "spine2", "lankle", "rankle", "spine3",
    "lfoot", "rfoot", "neck", "lcollar", "rcollar", "head", "lshoulder", "rshoulder", "lelbow",
    "relbow", "lwrist", "rwrist", "lhand", "rhand",
)  # fmt: skip
SMPL24_HIPS: tuple[int, int] = (1, 2)
# Joint regressors a protocol can ask for, and their row count.
REGRESSOR_ROWS: dict[str, int] = {"h36m": len(H36M_JOINT_NAMES), "smpl24": len(SMPL24_JOINT_NAMES)}
ALIGNMENTS: tuple[str, ...] = ("centroid", "pelvis", "hips")


@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol: which joints, how meshes are translated, which GT it prescribes, who uses it.

    Attributes:
        name: registry key, used in tables, metrics keys and file names.
        joints: indices into the rows of the ``regressor`` joints that MPJPE / PA-MPJPE average over.
        alignment: "centroid" (subtract the mean vertex, then regress the joints), "pelvis" (subtract the
            regressed H36M joint 0, taken before sub-selection) or "hips" (subtract the mean of SMPL
            joints 1 and 2); PVE uses the same translation on the vertices.
        regressor: "h36m" (a (17, V) ``J_regressor_h36m``) or "smpl24" (SMPL's own (24, V) ``J_regressor``).
        gt_body_model: the ground-truth mesh the protocol prescribes (what this pipeline uses: README).
        gt_full_pose: True when that GT is the SMPL model with the full pose (joints 1..23, hands included):
            ``evaluate`` then scores against the image set's full-pose SMPL GT meshes
            (``prepare_images``' ``meshes/smpl_full_pose``), else against the SMPL-H meshes with flat hands
            the image set's ``meshes/`` hold (and the tokenizer encodes).
        used_by: the methods whose published numbers follow it.
        test_sources: image sources it is defined on (empty: any test set).
        description: one line for tables and reports.
    """

    name: str
    joints: tuple[int, ...]
    alignment: str
    description: str
    regressor: str = "h36m"
    gt_body_model: str = ""
    gt_full_pose: bool = False
    used_by: str = ""
    test_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.alignment not in ALIGNMENTS or self.regressor not in REGRESSOR_ROWS:
            raise ValueError(
                f"protocol {self.name}: alignment {self.alignment!r} / regressor {self.regressor!r}"
            )
        if not self.joints or max(self.joints) >= REGRESSOR_ROWS[self.regressor]:
            raise ValueError(f"protocol {self.name}: joints must index the {self.regressor} rows")


PROTOCOLS: dict[str, Protocol] = {
    "vqhps": Protocol(
        name="vqhps",
        joints=H36M_TO_J17,
        alignment="centroid",
        description=(
            "VQ-HPS code (eval.py since commit 85be149): both meshes centred on their mean vertex; "
            "PVE over all vertices; MPJPE and PA-MPJPE on 17 H36M joints (H36M_TO_J17)"
        ),
        gt_body_model="gendered SMPL-H, 21 body joints (flat hands), 10 betas, centred",
        used_by="VQ-HPS, MEGA (the authors' code)",
    ),
    "standard": Protocol(
        name="standard",
        joints=H36M_TO_J14,
        alignment="pelvis",
        description=(
            "SPIN/CLIFF: 14 LSP joints (H36M_TO_J14); joints and vertices minus the regressed H36M pelvis "
            "(joint 0, taken before sub-selection); PA-MPJPE on the 14 joints"
        ),
        gt_body_model="gendered SMPL, full 72-d pose, 10 betas (3DPW genders m/f)",
        gt_full_pose=True,
        used_by="SPIN, PARE, CLIFF, BEDLAM-CLIFF, CameraHMR, TokenHMR (3DPW)",
    ),
    "emdb": Protocol(
        name="emdb",
        joints=tuple(range(len(SMPL24_JOINT_NAMES))),
        alignment="hips",
        regressor="smpl24",
        description=(
            "EMDB official (eth-ait/emdb evaluation_metrics.py): 24 SMPL joints, joints and vertices minus "
            "the mid-hip (joints 1, 2); PA-MPJPE on the 24 joints; EMDB-1 frames with good_frames_mask"
        ),
        gt_body_model="SMPL of the sequence's gender (pkl), poses_root + 69-d poses_body, 10 betas",
        gt_full_pose=True,
        used_by="EMDB benchmark, TokenHMR, CameraHMR, PromptHMR/WHAM (EMDB)",
        test_sources=("emdb1",),
    ),
}


# The protocols that need only the H36M regressor, which every topology has (the demo's Anny one included).
DEFAULT_PROTOCOLS: tuple[str, ...] = ("vqhps", "standard")


def get_protocol(name: str) -> Protocol:
    """Look a protocol up by name.

    Args:
        name: a key of :data:`PROTOCOLS`.

    Returns:
        The :class:`Protocol`.

    Raises:
        ValueError: the name is unknown; the message lists the allowed names.
    """
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown evaluation protocol {name!r}; allowed: {sorted(PROTOCOLS)}") from None
