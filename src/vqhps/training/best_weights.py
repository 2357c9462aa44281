"""The best-validation weights of a run, kept beside its resumable checkpoint (``best.pt``).

The original saves ``model_checkpoint`` (the latest) and ``model_best_v2v`` / ``model_best_pampjpe`` /
``model_best_loss`` (best on 3DPW validation); which one the released model is, its code does not say.
``ImageTrainSettings.keep_best`` picks the metric; the run then ends with the weights of its best
validation instead of its last step.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from vqhps.io.atomic import atomic_path


class BestWeights:
    """Keeps the weights with the lowest ``val_<key>`` seen so far in ``path`` (None key: keeps nothing).

    The file survives a resume (its value is read back), so a resumed run selects among all validations.
    """

    def __init__(self, path: Path, key: str | None) -> None:
        self.path, self.key = Path(path), key
        self.value, self.step = math.inf, None
        if key is not None and self.path.is_file():
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            self.value, self.step = float(saved["value"]), int(saved["step"])

    def update(self, model: nn.Module, metrics: dict[str, float], step: int) -> None:
        """Save ``model``'s weights when ``metrics["val_<key>"]`` beats the best so far.

        Raises:
            KeyError: the validation metrics have no ``val_<key>`` (names the ones they have).
        """
        if self.key is None:
            return
        name = f"val_{self.key}"
        if name not in metrics:
            raise KeyError(f"best checkpoint by {name}: validation gives {sorted(metrics)}")
        value = float(metrics[name])
        if value < self.value:
            self.value, self.step = value, step
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            with atomic_path(self.path) as tmp:
                torch.save({"model_state": state, "value": value, "step": step}, tmp)

    def restore(self, model: nn.Module) -> dict[str, float]:
        """Load the best weights into ``model``; returns ``selected_step`` and ``selected_val_<key>``."""
        if self.key is None or self.step is None:
            return {}
        saved = torch.load(self.path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model_state"])
        return {"selected_step": float(self.step), f"selected_val_{self.key}": self.value}
