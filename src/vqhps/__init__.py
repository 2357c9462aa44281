"""vqhps: a reproducible pipeline for VQ-HPS (human mesh recovery as classification of mesh tokens)."""

__version__ = "0.1.0"
