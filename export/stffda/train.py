"""Training of STFF-DA: the generic net training of :mod:`export.nets.train`, kept importable
here (``train_stffda`` is :func:`export.nets.train.train` with the label ``stffda``)."""

from __future__ import annotations

from export.data import EpochSet
from export.nets.train import (
    CropSet,
    Progress,
    TrainConfig,
    Trained,
    crop_starts,
    epochs_to_crops,
    finetune,
    fit_scale,
    make_crops,
    predict_proba,
    train,
    train_pooled,
)
from export.stffda.model import STFFDAConfig

__all__ = ["TrainConfig", "CropSet", "make_crops", "Trained", "train_stffda", "train_pooled",
           "finetune", "predict_proba", "epochs_to_crops", "fit_scale", "crop_starts"]


def train_stffda(ep_wide: EpochSet, cfg: STFFDAConfig, tc: TrainConfig, *,
                 band: tuple[float, float] = (0.5, 40.0), progress: Progress | None = None,
                 label: str = "stffda") -> Trained:
    """Train STFF-DA on one (or several, treated as one) recording set
    (:func:`export.nets.train.train`)."""
    return train(ep_wide, cfg, tc, band=band, progress=progress, label=label)
