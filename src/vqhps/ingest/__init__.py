"""Readers of the paper's real datasets (3DPW, EMDB, AMASS/BEDLAM motions, BEDLAM/CLIFF labels)."""

from vqhps.ingest.records import FrameRecords, canonical_meshes, concat_records, root_to_camera

__all__ = ["FrameRecords", "canonical_meshes", "concat_records", "root_to_camera"]
