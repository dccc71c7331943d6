"""Deterministic CPU training of any registered net (:mod:`export.nets.registry`) on small
motor-imagery sets.

* **Cropped windows.** Epochs are loaded ``crop_shift`` s wider than the analysed window on both
  sides; every crop of the window length, ``crop_step`` samples apart, is preprocessed once (the
  same :class:`edge.preprocessing.Preprocessing` as the edge, per crop) and each training step
  draws one crop per trial at random, plus a random gain (±10 %) and a little white noise. The
  centre crop is the analysed window itself: it is what validation, test and the edge see.
* **Validation by held-out run.** The last run of the training data is held out; training stops
  when its cross-entropy has not improved for ``patience`` epochs, and the epoch count with the
  lowest loss is kept. With ``refit`` (default) the net is then retrained from the same seed on
  all training runs for that many epochs, so no calibration trial is wasted.
* **Pooling subjects.** :func:`train_pooled` trains one net on several subjects (each scaled by
  its own RMS, so a quiet and a loud recording weigh alike); :func:`finetune` continues from it
  on one subject's runs at a lower learning rate, with the same early stopping.
* **Euclidean alignment** (``align=True``, He & Wu 2020): every subject's preprocessed crops are
  multiplied by its own whitener ``R^-1/2`` (R: the mean spatial covariance of its training
  windows, :mod:`edge.alignment`), so pooled subjects share one reference; the whitener travels
  in :class:`Trained` and the bundle, and the edge applies it before the model.
* **Determinism.** ``torch.manual_seed``, a seeded numpy generator for the augmentation,
  ``torch.use_deterministic_algorithms`` and a fixed thread count: the same inputs and seed give
  the same weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from edge.preprocessing import Preprocessing
from export.data import EpochSet
from export.nets.align import align_windows, alignment_of
from export.nets.registry import build, entry_for

__all__ = ["TrainConfig", "CropSet", "make_crops", "epochs_to_crops", "fit_scale", "Trained",
           "train", "train_pooled", "finetune", "adapt", "predict_proba"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and augmentation settings (recorded in the bundle).

    Attributes
    ----------
    max_epochs, patience : int
        Early-stopping budget (epochs) on the held-out run; without ``early_stopping``,
        ``max_epochs`` is the fixed number of epochs on all the training runs.
    early_stopping : bool
        Hold the last training run out and stop when its loss has not improved for
        ``patience`` epochs (then ``refit``); False trains a fixed ``max_epochs`` on every
        training run (STAFNet's recipe: the seed paper trains a fixed number of epochs).
    batch_size : int
    lr, weight_decay : float
        AdamW.
    crop_shift : float
        Crops start up to this many seconds before/after the analysed window.
    crop_step : int
        Samples between crop starts.
    gain_jitter, noise_std : float
        Random gain in ``1 ± gain_jitter``; white noise (in units of the training RMS).
    refit : bool
        Retrain on all training runs for the selected number of epochs.
    min_epochs : int
        Floor on the selected epoch count.
    seed : int
    threads : int
        torch intra-op threads.
    """

    max_epochs: int = 200
    patience: int = 40
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-2
    crop_shift: float = 0.25
    crop_step: int = 8
    gain_jitter: float = 0.1
    noise_std: float = 0.05
    refit: bool = True
    min_epochs: int = 10
    seed: int = 0
    threads: int = 1
    early_stopping: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CropSet:
    """Preprocessed crops of labelled trials.

    Attributes
    ----------
    crops : ndarray of float32, shape (n_trials, n_crops, n_channels, n_samples)
    centre : int
        Index of the crop that is exactly the analysed window.
    y, runs : ndarray of int, shape (n_trials,)
    """

    crops: np.ndarray
    centre: int
    y: np.ndarray
    runs: np.ndarray

    def subset(self, mask: np.ndarray) -> CropSet:
        return CropSet(self.crops[mask], self.centre, self.y[mask], self.runs[mask])

    @property
    def windows(self) -> np.ndarray:
        """The analysed windows, shape (n_trials, n_channels, n_samples)."""
        return self.crops[:, self.centre]

    @staticmethod
    def concat(parts: Sequence[CropSet]) -> CropSet:
        n = min(p.crops.shape[1] for p in parts)
        # equal-length crop grids in practice; trim symmetrically otherwise
        crops = [p.crops[:, (p.crops.shape[1] - n) // 2:(p.crops.shape[1] - n) // 2 + n]
                 for p in parts]
        return CropSet(np.concatenate(crops), n // 2, np.concatenate([p.y for p in parts]),
                       np.concatenate([p.runs for p in parts]))


def crop_starts(n_wide: int, n_samples: int, step: int) -> tuple[np.ndarray, int]:
    """Start offsets of the crops within a wide epoch, and the index of the centre one."""
    margin = (n_wide - n_samples) // 2
    k = margin // step
    starts = margin + step * np.arange(-k, k + 1)
    return starts, k


def make_crops(wide: np.ndarray, n_samples: int, prep: Preprocessing, step: int) -> CropSet:
    """Preprocess every crop of wide epochs (each crop filtered on its own, as on the edge).

    Parameters
    ----------
    wide : ndarray, shape (n_trials, n_channels, n_wide)
        Epochs with an equal margin before and after the analysed window.
    """
    starts, centre = crop_starts(wide.shape[-1], n_samples, step)
    crops = np.stack([prep(wide[..., s:s + n_samples]) for s in starts], axis=1)
    return CropSet(crops, centre, np.zeros(len(wide), np.int64), np.zeros(len(wide), np.int64))


def epochs_to_crops(ep: EpochSet, n_samples: int, prep: Preprocessing, step: int,
                    whitener: np.ndarray | None = None) -> CropSet:
    """Labelled crops of ``ep`` (:func:`make_crops`), each multiplied by ``whitener`` (C, C)
    when given (Euclidean alignment, the same product as the edge's)."""
    cs = make_crops(ep.X, n_samples, prep, step)
    if whitener is not None:
        cs.crops = align_windows(cs.crops, whitener)
    cs.y, cs.runs = ep.y.copy(), ep.runs.copy()
    return cs


def fit_scale(ep: EpochSet, n_samples: int, low: float, high: float) -> Preprocessing:
    """Preprocessing whose scale is the RMS of the analysed (centre) windows of ``ep``."""
    margin = (ep.n_samples - n_samples) // 2
    prep = Preprocessing(low=low, high=high, sfreq=ep.sfreq)
    return prep.fit(ep.X[..., margin:margin + n_samples])


@dataclass
class Trained:
    """A trained net with what produced it.

    Attributes
    ----------
    net : nn.Module
        A registered net (``net.cfg`` its config), in eval mode.
    prep : Preprocessing
    history : dict
        ``epochs`` (selected), ``val_run``, ``val_loss``/``val_acc`` curves, ``seconds``.
    """

    net: nn.Module
    prep: Preprocessing
    history: dict[str, Any] = field(default_factory=dict)
    alignment: dict[str, Any] | None = None

    @property
    def whitener(self) -> np.ndarray | None:
        """The Euclidean-alignment whitener (C, C) applied after ``prep``, or None."""
        if self.alignment is None:
            return None
        return np.asarray(self.alignment["whitener"], dtype=np.float64)


def _seed_all(seed: int, threads: int) -> np.random.Generator:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return np.random.default_rng(seed)


@torch.no_grad()
def predict_proba(net: nn.Module, windows: np.ndarray, batch: int = 256) -> np.ndarray:
    """Softmax probabilities of preprocessed windows (n, C, T) -> (n, n_classes)."""
    net.eval()
    out = [torch.softmax(net(torch.from_numpy(np.ascontiguousarray(windows[i:i + batch]))), 1)
           for i in range(0, len(windows), batch)]
    return torch.cat(out).numpy().astype(np.float64)


def _run_epochs(net: nn.Module, train: CropSet, val: CropSet | None, tc: TrainConfig,
                rng: np.random.Generator, epochs: int, lr: float,
                progress: Progress | None, label: str) -> dict[str, Any]:
    """Train for up to ``epochs``; with ``val``, stop early and restore the best state."""
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=tc.weight_decay)
    constrain = getattr(net, "constrain", None)
    loss_fn = nn.CrossEntropyLoss()
    n, n_crops = train.crops.shape[:2]
    y_all = torch.from_numpy(train.y)
    best = (np.inf, 0, None)
    val_loss, val_acc = [], []
    for epoch in range(1, epochs + 1):
        net.train()
        order = rng.permutation(n)
        for i in range(0, n, tc.batch_size):
            idx = order[i:i + tc.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            pick = rng.integers(0, n_crops, len(idx))
            xb = train.crops[idx, pick]
            gain = 1.0 + tc.gain_jitter * rng.uniform(-1, 1, (len(idx), 1, 1))
            xb = xb * gain + tc.noise_std * rng.standard_normal(xb.shape)
            opt.zero_grad()
            loss = loss_fn(net(torch.from_numpy(xb.astype(np.float32))), y_all[idx])
            loss.backward()
            opt.step()
            if constrain is not None:  # max-norm constraints (EEGNet)
                constrain()
        if val is not None:
            p = predict_proba(net, val.windows)
            vl = float(-np.mean(np.log(np.clip(p[np.arange(len(val.y)), val.y], 1e-7, 1))))
            val_loss.append(vl)
            val_acc.append(float(np.mean(p.argmax(1) == val.y)))
            if vl < best[0] - 1e-4:
                best = (vl, epoch, {k: v.clone() for k, v in net.state_dict().items()})
            elif epoch - best[1] >= tc.patience and epoch > tc.min_epochs:
                break
            if progress and epoch % 20 == 0:
                progress(f"{label}: epoch {epoch}, val loss {vl:.3f}, val acc {val_acc[-1]:.2f}"
                         f" (best epoch {best[1]})")
        elif progress and epoch % 50 == 0:
            progress(f"{label}: epoch {epoch}/{epochs}")
    if val is not None and best[2] is not None:
        net.load_state_dict(best[2])
    return {"best_epoch": max(best[1], tc.min_epochs) if val is not None else epochs,
            "val_loss": val_loss, "val_acc": val_acc}


def _fit(cfg: Any, data: CropSet, tc: TrainConfig, *, init: dict | None = None,
         lr: float | None = None, progress: Progress | None = None,
         label: str = "net") -> tuple[nn.Module, dict[str, Any]]:
    """Early stopping on the last run of ``data``, then (``tc.refit``) retrain on all of it;
    with one run, or without ``tc.early_stopping``, a fixed ``tc.max_epochs`` on all of it."""
    t0 = time.perf_counter()
    lr = tc.lr if lr is None else lr
    cfg = entry_for(cfg).fit_config(cfg, data.windows)  # e.g. a data-derived adjacency
    runs = np.unique(data.runs)
    val_run = int(runs[-1]) if len(runs) >= 2 and tc.early_stopping else None

    def fresh() -> tuple[nn.Module, np.random.Generator]:
        rng_local = _seed_all(tc.seed, tc.threads)
        net = build(cfg)
        if init is not None:
            net.load_state_dict(init)
        return net, rng_local

    history: dict[str, Any] = {"val_run": val_run}
    if val_run is None:
        net, rng = fresh()
        h = _run_epochs(net, data, None, tc, rng, tc.max_epochs, lr, progress, label)
        history.update(epochs=tc.max_epochs, refit=False)
    else:
        is_val = data.runs == val_run
        net, rng = fresh()
        h = _run_epochs(net, data.subset(~is_val), data.subset(is_val), tc, rng,
                        tc.max_epochs, lr, progress, f"{label} (val run {val_run})")
        history.update(epochs=h["best_epoch"], val_loss=h["val_loss"], val_acc=h["val_acc"],
                       best_val_loss=float(min(h["val_loss"])) if h["val_loss"] else None,
                       best_val_acc=float(h["val_acc"][h["best_epoch"] - 1])
                       if len(h["val_acc"]) >= h["best_epoch"] else None,
                       refit=tc.refit)
        if tc.refit:
            net, rng = fresh()
            _run_epochs(net, data, None, tc, rng, h["best_epoch"], lr, None, label)
    history["seconds"] = time.perf_counter() - t0
    if progress:
        progress(f"{label}: {history['epochs']} epochs selected, "
                 f"{history['seconds']:.0f} s")
    return net.eval(), history


def _window_len(ep: EpochSet, tc: TrainConfig, n_samples: int | None) -> int:
    if n_samples is not None:
        return n_samples
    return ep.n_samples - 2 * int(round(tc.crop_shift * ep.sfreq))


def _crops(ep: EpochSet, n_samples: int, prep: Preprocessing, step: int,
           align: bool) -> tuple[CropSet, dict[str, Any] | None]:
    """Crops of ``ep``; with ``align``, aligned by the whitener of its own centre windows."""
    data = epochs_to_crops(ep, n_samples, prep, step)
    if not align:
        return data, None
    alignment = alignment_of(data.windows)
    data.crops = align_windows(data.crops, np.asarray(alignment["whitener"]))
    return data, alignment


def train(ep_wide: EpochSet, cfg: Any, tc: TrainConfig, *,
          band: tuple[float, float] = (0.5, 40.0), progress: Progress | None = None,
          label: str | None = None, align: bool = False) -> Trained:
    """Train on one (or several, treated as one) recording set.

    Parameters
    ----------
    ep_wide : EpochSet
        Epochs ``tc.crop_shift`` s wider than the analysed window on each side.
    cfg : config dataclass of a registered net
        Its ``n_samples`` is the analysed window length; its type selects the net.
    align : bool
        Euclidean alignment by the whitener of these training windows (kept in the result).
    """
    prep = fit_scale(ep_wide, cfg.n_samples, *band)
    data, alignment = _crops(ep_wide, cfg.n_samples, prep, tc.crop_step, align)
    net, hist = _fit(cfg, data, tc, progress=progress, label=label or entry_for(cfg).name)
    return Trained(net, prep, hist, alignment)


def train_pooled(eps_wide: Sequence[EpochSet], cfg: Any, tc: TrainConfig, *,
                 band: tuple[float, float] = (0.5, 40.0), progress: Progress | None = None,
                 label: str = "pooled", align: bool = False) -> Trained:
    """One net on several subjects, each scaled by its own RMS (and, with ``align``, whitened
    by its own reference: then ``history["align"]`` is True and the result must be adapted to
    a target, :func:`finetune` or :func:`adapt`, which computes the target's whitener).

    The held-out run for early stopping is the last run number (the same run of every
    subject). The returned ``prep`` carries the geometric mean of the subjects' scales; replace
    it with the target subject's own (:func:`fit_scale`) before use on that subject.
    """
    parts, scales = [], []
    for ep in eps_wide:
        prep = fit_scale(ep, cfg.n_samples, *band)
        scales.append(prep.scale)
        parts.append(_crops(ep, cfg.n_samples, prep, tc.crop_step, align)[0])
    data = CropSet.concat(parts)
    net, hist = _fit(cfg, data, tc, progress=progress, label=label)
    mean_scale = float(np.exp(np.mean(np.log(scales))))
    hist["subject_scales"] = scales
    if align:
        hist["align"] = True
    return Trained(net, Preprocessing(band[0], band[1], eps_wide[0].sfreq, mean_scale), hist)


def finetune(base: Trained, ep_wide: EpochSet, tc: TrainConfig, *, lr_factor: float = 0.3,
             progress: Progress | None = None, label: str = "finetune") -> Trained:
    """Continue training ``base`` on one subject (its own scale, and its own whitener when
    ``base`` was trained aligned), lower learning rate."""
    cfg = base.net.cfg
    prep = fit_scale(ep_wide, cfg.n_samples, base.prep.low, base.prep.high)
    data, alignment = _crops(ep_wide, cfg.n_samples, prep, tc.crop_step, _aligned(base))
    init = {k: v.clone() for k, v in base.net.state_dict().items()}
    net, hist = _fit(cfg, data, tc, init=init, lr=tc.lr * lr_factor, progress=progress,
                     label=label)
    hist["lr_factor"] = lr_factor
    return Trained(net, prep, hist, alignment)


def _aligned(base: Trained) -> bool:
    return bool(base.history.get("align")) or base.alignment is not None


def adapt(base: Trained, ep_wide: EpochSet, tc: TrainConfig) -> Trained:
    """``base`` (pooled) for one subject without training: its own scale and, when ``base`` was
    trained aligned, its own whitener from its calibration windows (zero-shot transfer)."""
    cfg = base.net.cfg
    prep = fit_scale(ep_wide, cfg.n_samples, base.prep.low, base.prep.high)
    alignment = None
    if _aligned(base):
        alignment = _crops(ep_wide, cfg.n_samples, prep, tc.crop_step, True)[1]
    return Trained(base.net, prep, {**base.history, "adapted": True}, alignment)
