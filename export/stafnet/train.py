"""Training STAFNet with the STFF-DA recipe (:mod:`export.stffda.train`: cropped windows, gain
and noise augmentation, early stopping on the last training run, refit, AdamW weight decay as
the paper's L2 term, eq. 19), plus what only STAFNet needs: a data-derived adjacency
(``correlation``/``pli``) is computed from the training windows (the centre crops) before the
net is built, so validation and test windows never shape it.

This is the bridge until the generic trainer of the net registry (``export.nets.train``) takes
any net; it reuses the STFF-DA functions rather than copying them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from export.data import EpochSet
from export.nets.train import (
    CropSet,
    Progress,
    TrainConfig,
    Trained,
    _run_epochs,
    _seed_all,
    epochs_to_crops,
    fit_scale,
)
from export.stafnet.config import STAFNetConfig
from export.stafnet.model import STAFNet

__all__ = ["train_stafnet", "train_stafnet_pooled", "finetune_stafnet", "fit_on_crops"]


def fit_on_crops(cfg: STAFNetConfig, data: CropSet, tc: TrainConfig, *,
                 init: dict | None = None, lr: float | None = None,
                 early_stopping: bool = True, progress: Progress | None = None,
                 label: str = "stafnet") -> tuple[nn.Module, dict[str, Any]]:
    """Early stopping on the last run of ``data``, then (``tc.refit``) retrain on all of it;
    without ``early_stopping`` (or with one run), ``tc.max_epochs`` on all of it (the
    paper trains a fixed 30 epochs per fold, section 2.4)."""
    t0 = time.perf_counter()
    lr = tc.lr if lr is None else lr
    runs = np.unique(data.runs)
    val_run = int(runs[-1]) if len(runs) >= 2 and early_stopping else None
    fit_cfg = cfg.with_adjacency_from(data.windows)  # training windows only

    def fresh() -> tuple[STAFNet, np.random.Generator]:
        rng_local = _seed_all(tc.seed, tc.threads)
        net = STAFNet(fit_cfg)
        if init is not None:
            net.load_state_dict(init)
        return net, rng_local

    history: dict[str, Any] = {"val_run": val_run}
    epochs = tc.max_epochs
    if val_run is not None:
        is_val = data.runs == val_run
        net, rng = fresh()
        h = _run_epochs(net, data.subset(~is_val), data.subset(is_val), tc, rng,  # type: ignore[arg-type]
                        tc.max_epochs, lr, progress, f"{label} (val run {val_run})")
        epochs = h["best_epoch"]
        history.update(val_loss=h["val_loss"], val_acc=h["val_acc"])
    if val_run is None or tc.refit:
        net, rng = fresh()
        _run_epochs(net, data, None, tc, rng, epochs, lr, None, label)  # type: ignore[arg-type]
    history.update(epochs=epochs, refit=val_run is not None and tc.refit,
                   seconds=time.perf_counter() - t0)
    if progress:
        progress(f"{label}: {epochs} epochs selected, {history['seconds']:.0f} s")
    return net.eval(), history


def train_stafnet(ep_wide: EpochSet, cfg: STAFNetConfig, tc: TrainConfig, *,
                  band: tuple[float, float] = (0.5, 40.0), early_stopping: bool = True,
                  progress: Progress | None = None, label: str = "stafnet") -> Trained:
    """Train on one subject's epochs (``tc.crop_shift`` s wider than the analysed window)."""
    prep = fit_scale(ep_wide, cfg.n_samples, *band)
    data = epochs_to_crops(ep_wide, cfg.n_samples, prep, tc.crop_step)
    net, hist = fit_on_crops(cfg, data, tc, early_stopping=early_stopping, progress=progress,
                             label=label)
    return Trained(net, prep, hist)  # type: ignore[arg-type]


def train_stafnet_pooled(eps_wide: Sequence[EpochSet], cfg: STAFNetConfig, tc: TrainConfig, *,
                         band: tuple[float, float] = (0.5, 40.0), early_stopping: bool = True,
                         progress: Progress | None = None, label: str = "pooled") -> Trained:
    """One net on several subjects, each scaled by its own RMS (as STFF-DA's pooling)."""
    from edge.preprocessing import Preprocessing

    parts, scales = [], []
    for ep in eps_wide:
        prep = fit_scale(ep, cfg.n_samples, *band)
        scales.append(prep.scale)
        parts.append(epochs_to_crops(ep, cfg.n_samples, prep, tc.crop_step))
    net, hist = fit_on_crops(cfg, CropSet.concat(parts), tc, early_stopping=early_stopping,
                             progress=progress, label=label)
    mean_scale = float(np.exp(np.mean(np.log(scales))))
    return Trained(net, Preprocessing(band[0], band[1], eps_wide[0].sfreq, mean_scale),  # type: ignore[arg-type]
                   hist)


def finetune_stafnet(base: Trained, ep_wide: EpochSet, tc: TrainConfig, *,
                     lr_factor: float = 0.3, early_stopping: bool = True,
                     progress: Progress | None = None, label: str = "finetune") -> Trained:
    """Continue training ``base`` on one subject (its own scale) at a lower learning rate.

    The adjacency (learnt or fixed) comes from ``base``'s weights, not the subject's data.
    """
    net0: STAFNet = base.net  # type: ignore[assignment]
    cfg = net0.cfg
    prep = fit_scale(ep_wide, cfg.n_samples, base.prep.low, base.prep.high)
    data = epochs_to_crops(ep_wide, cfg.n_samples, prep, tc.crop_step)
    init = {k: v.clone() for k, v in net0.state_dict().items()}
    net, hist = fit_on_crops(cfg, data, tc, init=init, lr=tc.lr * lr_factor,
                             early_stopping=early_stopping, progress=progress, label=label)
    hist["lr_factor"] = lr_factor
    return Trained(net, prep, hist)  # type: ignore[arg-type]
