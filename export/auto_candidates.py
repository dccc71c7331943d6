"""The decoders ``mi-export auto`` chooses between (:mod:`export.auto` ranks them).

A candidate trains on the target's labelled training epochs only (``fit``), gives class
probabilities for other epochs of the same person (``predict_proba``), and adds itself to a
bundle (``write``). Every candidate receives epochs *wider* than the analysed window by
:data:`NET_MARGIN_S` on each side when a net is among the candidates (the nets train on shifted
crops); the others crop the analysed window first (:func:`crop`), so every candidate sees the
same trials and the same analysed window.

Pooled candidates also hold other people's recordings (``--pool``); they use them in
``prepare`` (once, before any fold: the pool never contains the target) and in ``fit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from export.data import EpochSet

__all__ = ["Candidate", "FGSFTCandidate", "RiemannCandidate", "NetPooledCandidate",
           "crop", "default_candidates", "CANDIDATE_NAMES", "NET_CANDIDATES", "NET_MARGIN_S"]

Progress = Callable[[str], None]

#: Seconds the nets' crops may start before / end after the analysed window (their
#: ``TrainConfig.crop_shift``).
NET_MARGIN_S = 0.25


def crop(ep: EpochSet, window: tuple[float, float]) -> EpochSet:
    """The epochs cut to ``window`` (s from the cue), with the same rounding as
    :func:`export.data.load_epochs`, so a cropped wide set equals a narrow load."""
    start = int(round((window[0] - ep.tmin) * ep.sfreq))
    n = int(round((window[1] - window[0]) * ep.sfreq))
    if start < 0 or start + n > ep.n_samples:
        raise ValueError(f"window {window} is outside the epochs ({ep.tmin:g}..{ep.tmax:g} s)")
    if start == 0 and n == ep.n_samples:
        return ep
    return replace(ep, X=ep.X[..., start:start + n], tmin=ep.tmin + start / ep.sfreq)


@dataclass
class Candidate:
    """One decoder recipe. Subclasses implement ``fit``, ``predict_proba`` and ``write``.

    Attributes
    ----------
    name : str
        Its decoder name in the bundle (nets add suffixes for their exports).
    window : (float, float)
        The analysed window, s from the cue.
    pool : list of EpochSet
        Other people's epochs (pooled candidates only), one set per person.
    """

    name: str
    window: tuple[float, float]
    pool: list[EpochSet] = field(default_factory=list)
    needs_pool: bool = False
    is_net: bool = False

    def describe(self) -> str:
        return self.name

    def prepare(self, progress: Progress) -> None:
        """Work that uses the pool only (done once, shared by every fold)."""

    def fit(self, ep: EpochSet, progress: Progress) -> Any:
        raise NotImplementedError

    def predict_proba(self, model: Any, ep: EpochSet) -> np.ndarray:
        raise NotImplementedError

    def write(self, bundle: Path, model: Any, ep: EpochSet, progress: Progress) -> list[str]:
        """Add the trained decoder(s) to ``bundle``; returns the decoder names written."""
        raise NotImplementedError


@dataclass
class FGSFTCandidate(Candidate):
    grid: str = "fast"
    jobs: int = 1

    def describe(self) -> str:
        return f"FGSFT ({self.grid} grid)"

    def fit(self, ep: EpochSet, progress: Progress) -> Any:
        from export.fgsft import FGSFTConfig
        from export.train_fgsft import train_fgsft

        return train_fgsft(crop(ep, self.window), FGSFTConfig(grid=self.grid, jobs=self.jobs),
                           lambda m: None)

    def predict_proba(self, model: Any, ep: EpochSet) -> np.ndarray:
        return model.predict_proba(crop(ep, self.window).X)

    def write(self, bundle: Path, model: Any, ep: EpochSet, progress: Progress) -> list[str]:
        from export.train_fgsft import write_fgsft

        write_fgsft(bundle, self.name, model, crop(ep, self.window))
        return [self.name]


@dataclass
class RiemannCandidate(Candidate):
    """:class:`export.riemann.RiemannClassifier` with ``params`` (bands, alignment, ...); the
    pooled variant passes the pool's per-person trials as ``pool``."""

    params: dict[str, Any] = field(default_factory=dict)
    #: the bundle's default online-adaptation horizon, s (0: off; ``mi-edge run`` overrides)
    adapt_horizon_s: float = 0.0

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"riemann{' pooled' if self.needs_pool else ''} ({extra})" if extra else \
            f"riemann{' pooled' if self.needs_pool else ''}"

    def fit(self, ep: EpochSet, progress: Progress) -> Any:
        from export.riemann import RiemannClassifier

        narrow = crop(ep, self.window)
        pool = [(p.X, p.y) for p in (crop(q, self.window) for q in self.pool)] \
            if self.needs_pool else None
        clf = RiemannClassifier(narrow.sfreq, pool=pool, **self.params)
        return clf.fit(narrow.X, narrow.y)

    def predict_proba(self, model: Any, ep: EpochSet) -> np.ndarray:
        return model.predict_proba(crop(ep, self.window).X)

    def write(self, bundle: Path, model: Any, ep: EpochSet, progress: Progress) -> list[str]:
        from export.riemann import write_riemann

        write_riemann(bundle, self.name, model, crop(ep, self.window),
                      adapt_horizon_s=self.adapt_horizon_s,
                      pool_subjects=[s for p in self.pool for s in p.subjects]
                      if self.needs_pool else ())
        return [self.name]


@dataclass
class NetPooledCandidate(Candidate):
    """A registered net (:mod:`export.nets.registry`: ``stffda``, ``eegnet``) trained on the
    pool (one net, each person scaled by their own RMS and, with ``align``, whitened by their
    own Euclidean reference), then fine-tuned on the target's training trials for a fixed
    number of epochs (30 trials are too few to hold a run out for early stopping)."""

    net: str = "stffda"
    align: bool = False
    pool_epochs: int = 40
    pool_patience: int = 8
    finetune_epochs: int = 20
    seed: int = 0
    base_: Any = None

    def __post_init__(self) -> None:
        self.needs_pool = True
        self.is_net = True

    def describe(self) -> str:
        return (f"{self.net} pooled{' + Euclidean alignment' if self.align else ''} "
                f"({len(self.pool)} people, <= {self.pool_epochs} epochs) + fine-tuned "
                f"({self.finetune_epochs} epochs)")

    def _cfg(self, ep: EpochSet) -> Any:
        n = int(round((self.window[1] - self.window[0]) * ep.sfreq))
        k = len(ep.class_names)
        if self.net == "eegnet":
            from export.nets.eegnet import EEGNetConfig, temporal_kernel

            return EEGNetConfig(len(ep.ch_names), n, k, kernel_size=temporal_kernel(ep.sfreq))
        from export.stffda.model import STFFDAConfig

        return STFFDAConfig(len(ep.ch_names), n, k, kernel_size=int(round(0.15 * ep.sfreq)) | 1)

    def prepare(self, progress: Progress) -> None:
        if self.base_ is not None:
            return
        from export.commands.netcmd import DEFAULT_BAND
        from export.nets.train import TrainConfig, train_pooled

        tc = TrainConfig(max_epochs=self.pool_epochs, patience=self.pool_patience,
                         batch_size=32, refit=False, seed=self.seed, crop_shift=NET_MARGIN_S)
        self.base_ = train_pooled([self._wide(p) for p in self.pool], self._cfg(self.pool[0]),
                                  tc, band=DEFAULT_BAND, progress=progress,
                                  label=f"{self.name} pooled base", align=self.align)

    def _wide(self, ep: EpochSet) -> EpochSet:
        return crop(ep, (self.window[0] - NET_MARGIN_S, self.window[1] + NET_MARGIN_S))

    def _tc(self) -> Any:
        from export.nets.train import TrainConfig

        return TrainConfig(max_epochs=self.finetune_epochs, refit=False, seed=self.seed,
                           crop_shift=NET_MARGIN_S)

    def fit(self, ep: EpochSet, progress: Progress) -> Any:
        from export.nets.train import finetune

        self.prepare(progress)
        wide = self._wide(ep)
        one = replace(wide, runs=np.zeros_like(wide.runs))  # fixed epochs, every trial trains
        return finetune(self.base_, one, self._tc())

    def predict_proba(self, model: Any, ep: EpochSet) -> np.ndarray:
        from export.nets.align import align_windows
        from export.nets.train import predict_proba

        x = model.prep(crop(ep, self.window).X)
        if model.whitener is not None:
            x = align_windows(x, model.whitener)
        return predict_proba(model.net, np.asarray(x, dtype=np.float32))

    def write(self, bundle: Path, model: Any, ep: EpochSet, progress: Progress) -> list[str]:
        from export.nets.bundle import write_net

        _, summary = write_net(bundle, self.name, model, self._wide(ep), self.window,
                               self._tc(), tflite="off", progress=progress,
                               provenance={"pool_subjects": [s for p in self.pool
                                                             for s in p.subjects]})
        names = list(summary)
        fp32 = [n for n in names if n.endswith("_fp32")]
        return fp32 + [n for n in names if n not in fp32]  # the exact export first


#: The candidates ``--candidates`` may name, in the default order (ties go to the earlier).
CANDIDATE_NAMES = ("riemann", "riemann_fb", "riemann_pooled", "fgsft", "stffda_pooled",
                   "eegnet_pooled_ea")
#: The candidates that are nets (they need epochs :data:`NET_MARGIN_S` wider than the window).
NET_CANDIDATES = ("stffda_pooled", "eegnet_pooled_ea")


def default_candidates(window: tuple[float, float], pool: Sequence[EpochSet],
                       names: Sequence[str] | None = None, *, fgsft_grid: str = "fast",
                       jobs: int = 1, seed: int = 0,
                       net_epochs: tuple[int, int] = (40, 20),
                       adapt_horizon_s: float = 0.0) -> list[Candidate]:
    """The candidates named (default: every one that the data allows: pooled ones need a
    pool); the Riemannian ones adapt online over ``adapt_horizon_s`` by default."""
    pool = list(pool)
    h = adapt_horizon_s
    makers: dict[str, Callable[[], Candidate]] = {
        "riemann": lambda: RiemannCandidate("riemann", window, adapt_horizon_s=h),
        "riemann_fb": lambda: RiemannCandidate(
            "riemann_fb", window, params={"bands": ((8, 12), (12, 16), (16, 24), (24, 30))},
            adapt_horizon_s=h),
        "riemann_pooled": lambda: RiemannCandidate("riemann_pooled", window, pool,
                                                   needs_pool=True, adapt_horizon_s=h),
        "fgsft": lambda: FGSFTCandidate("fgsft", window, grid=fgsft_grid, jobs=jobs),
        "stffda_pooled": lambda: NetPooledCandidate(
            "stffda_pooled", window, pool, net="stffda", seed=seed, pool_epochs=net_epochs[0],
            finetune_epochs=net_epochs[1]),
        "eegnet_pooled_ea": lambda: NetPooledCandidate(
            "eegnet_pooled_ea", window, pool, net="eegnet", align=True, seed=seed,
            pool_epochs=net_epochs[0], finetune_epochs=net_epochs[1]),
    }
    if names is None:
        names = [n for n in CANDIDATE_NAMES if pool or not makers[n]().needs_pool]
    unknown = [n for n in names if n not in makers]
    if unknown:
        raise ValueError(f"unknown candidate(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(CANDIDATE_NAMES)}")
    out = [makers[n]() for n in dict.fromkeys(names)]
    needing = [c.name for c in out if c.needs_pool and not pool]
    if needing:
        raise ValueError(f"candidate(s) {', '.join(needing)} train on other people's data: "
                         "give --pool FILES (other subjects' recordings)")
    return out
