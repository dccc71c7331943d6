"""FGSFT training as a scikit-learn classifier (Liu et al. 2025, Algorithm 2).

:class:`FGSFTClassifier` scores every spatial-frequency-time segment by leave-one-block-out
(LOBO) cross-validation of divCSP + linear SVM (:mod:`export.fgsft_selection`), ranks them,
scores the merged sets of the top ``j = D, 2D, ...`` segments, and keeps the ``K`` best as an
ensemble refitted on all training data (:mod:`export.fgsft_ensemble`). The fitted model is the
edge's :class:`edge.decoders.fgsft.FGSFTModel`, so training-time and edge-time probabilities come
from one piece of code.

Two classes are decoded by one binary divCSP + SVM per segment as in the paper; N > 2 classes by
one-vs-rest heads (one divCSP + SVM + Platt sigmoid per class, probabilities normalised to sum 1
and averaged over the ensemble).

References
----------
Liu et al. A fine-grained spatial-frequency-time framework for motor imagery brain-computer
interface. IEEE J. Biomed. Health Inform. 29(6), 2025.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from export.electrode_groups import all_groups
from export.fgsft_ensemble import fit_ensemble
from export.fgsft_selection import (
    GRIDS,
    GridSpec,
    lobo_blocks,
    lobo_gram_scores,
    score_band,
    stratified_blocks,
)
from export.grid import time_windows

__all__ = ["GridSpec", "FGSFTConfig", "FGSFTClassifier", "lobo_blocks", "GRIDS"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FGSFTConfig:
    """Hyper-parameters of FGSFT (defaults are the paper's); see :class:`FGSFTClassifier`."""

    grid: str = "paper"
    n_filters: int = 4  # d
    lam: float = 0.1  # lambda
    step: int = 5  # D
    n_members: int = 3  # K
    max_fraction: float = 0.2  # merged sets go up to this share of all segments
    min_blocks: int = 4
    divcsp_max_iter: int = 10
    jobs: int = 1
    seed: int = 0
    causal: bool = False
    lead: float = 1.0


class FGSFTClassifier(ClassifierMixin, BaseEstimator):
    """Fine-grained spatial-frequency-time decoder (Liu et al. 2025).

    Parameters
    ----------
    sfreq : float
        Sampling rate of the epochs, Hz.
    ch_names : list of str or None
        Channel names (electrode groups are chosen by name); None: unnamed channels, one
        whole-montage group plus the correlation-selected ones.
    grid : {"paper", "fast"}
        Segment grid (:data:`GRIDS`).
    n_filters : int
        divCSP filters per segment, d.
    lam : float
        divCSP intra-class weight, lambda.
    step : int
        Merged-set step D.
    n_members : int
        Ensemble size K.
    max_fraction : float
        Merged sets go up to this share of all segments.
    min_blocks : int
        At least this many LOBO blocks (runs are split when there are fewer).
    divcsp_max_iter : int
    jobs : int
        Worker processes for segment scoring (parallel over bands).
    seed : int
        Kept for reproducibility records (the algorithm is deterministic).
    causal : bool
        Filter the bands causally (forward only) instead of zero-phase, so the runtime can
        filter the stream as it arrives (:mod:`edge.decoders.fgsft_stream`). Training filters
        the same way, so its features are the runtime's.
    lead : float
        Causal only: seconds at the start of every epoch (``fit`` and ``predict_proba``) that
        are filtered but not analysed, the filters' warm-up (the runtime's stream has been
        filtering for longer). Zero-phase models drop these samples unfiltered.
    progress : callable or None
        Called with one-line progress messages; None logs them at INFO level.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        The labels seen in ``fit``, in the order of the probability columns.
    model_ : edge.decoders.fgsft.FGSFTModel
        The trained ensemble; the edge runs this same object.
    scores_ : dict
        Segment LOBO accuracies (for the report pictures), merged-set accuracies, the chosen
        sets and timings.
    """

    def __init__(self, sfreq: float | None = None, ch_names: Sequence[str] | None = None, *,
                 grid: str = "paper", n_filters: int = 4, lam: float = 0.1, step: int = 5,
                 n_members: int = 3, max_fraction: float = 0.2, min_blocks: int = 4,
                 divcsp_max_iter: int = 10, jobs: int = 1, seed: int = 0,
                 causal: bool = False, lead: float = 1.0,
                 progress: Callable[[str], None] | None = None):
        self.sfreq = sfreq
        self.ch_names = ch_names
        self.grid = grid
        self.n_filters = n_filters
        self.lam = lam
        self.step = step
        self.n_members = n_members
        self.max_fraction = max_fraction
        self.min_blocks = min_blocks
        self.divcsp_max_iter = divcsp_max_iter
        self.jobs = jobs
        self.seed = seed
        self.causal = causal
        self.lead = lead
        self.progress = progress

    @classmethod
    def from_config(cls, config: FGSFTConfig, sfreq: float, ch_names: Sequence[str],
                    progress: Callable[[str], None] | None = None) -> FGSFTClassifier:
        return cls(sfreq, list(ch_names), progress=progress, **asdict(config))

    def _say(self, msg: str) -> None:
        (self.progress or log.info)(msg)

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
            ) -> FGSFTClassifier:
        """Train on epochs.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_channels, n_samples)
            Epochs of exactly the analysed window, µV.
        y : array-like, shape (n_trials,)
            Labels (any values, at least two distinct).
        groups : array-like, shape (n_trials,), optional
            Recording run of each trial; the LOBO blocks are the runs (split into contiguous
            parts when there are fewer than ``min_blocks``). Without it, the blocks are
            ``min_blocks`` stratified contiguous parts: each class's trials, in order, cut into
            ``min_blocks`` parts (KFold without shuffling, per class).

        Returns
        -------
        self
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3:
            raise ValueError(f"X has shape {X.shape}; expected epochs (n_trials, n_channels, "
                             "n_samples)")
        if self.sfreq is None:
            raise ValueError("FGSFTClassifier needs sfreq (the epochs' sampling rate)")
        if self.grid not in GRIDS:
            raise ValueError(f"unknown grid {self.grid!r}; choose from {', '.join(GRIDS)}")
        self.classes_, y_enc = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"FGSFT needs at least two classes; y has {self.classes_}")
        if len(y_enc) != len(X):
            raise ValueError(f"{len(X)} epochs but {len(y_enc)} labels")
        if groups is None:
            blocks = stratified_blocks(y_enc, self.min_blocks)
        else:
            blocks = lobo_blocks(np.asarray(groups), self.min_blocks)
        X = self._analysed(X)
        # BLAS threads only slow down the many tiny matrix products here
        with threadpool_limits(1):
            return self._fit(X, y_enc.astype(np.int64), blocks)

    def _lead_samples(self) -> int:
        return int(round(self.lead * float(self.sfreq)))

    def _analysed(self, X: np.ndarray) -> np.ndarray:
        """Check that causal epochs hold more than their warm-up."""
        lead = self._causal_lead()
        if lead and X.shape[-1] <= lead:
            raise ValueError(f"epochs of {X.shape[-1]} samples: no analysed window after the "
                             f"{lead}-sample lead")
        return X

    def _causal_lead(self) -> int | None:
        return self._lead_samples() if self.causal else None

    def _score_segments(self, X, y, blocks, bands, windows, egroups, t_start):
        n_classes = len(self.classes_)
        n_folds = len(np.unique(blocks))
        H = 1 if n_classes == 2 else n_classes
        shape = (len(bands), len(windows), len(egroups))
        acc, margin = np.zeros(shape), np.zeros(shape)
        feats = np.zeros(shape + (n_folds, len(y), H, self.n_filters))
        sfreq = float(self.sfreq)
        jobs = Parallel(n_jobs=self.jobs, return_as="generator_unordered")(
            delayed(lambda b: (b, score_band(X, y, blocks, bands[b], sfreq, windows, egroups,
                                             self.n_filters, self.lam, self.divcsp_max_iter,
                                             n_classes, self._causal_lead())))(b)
            for b in range(len(bands))
        )
        for done, (b, (a, m, f)) in enumerate(jobs, start=1):
            acc[b], margin[b], feats[b] = a, m, f
            self._say(
                f"segments: band {done}/{len(bands)} scored ({bands[b][0]:g}-{bands[b][1]:g} Hz), "
                f"best segment LOBO accuracy so far {acc.max():.3f} "
                f"[{time.perf_counter() - t_start:.0f} s]"
            )
        return acc, margin, feats

    def _fit(self, X: np.ndarray, y: np.ndarray, blocks: np.ndarray) -> FGSFTClassifier:
        t_start = time.perf_counter()
        sfreq = float(self.sfreq)
        ch_names = list(self.ch_names) if self.ch_names is not None else \
            [f"ch{i}" for i in range(X.shape[1])]
        bands = GRIDS[self.grid].bands()
        n_analysed = X.shape[-1] - (self._causal_lead() or 0)
        windows = time_windows(n_analysed, sfreq, GRIDS[self.grid].window_lengths)
        if not windows:
            raise ValueError(f"the {X.shape[-1] / sfreq:.2f} s epoch is shorter than every window")
        egroups = all_groups(X, sfreq, ch_names)
        n_folds = len(np.unique(blocks))
        n_seg = len(bands) * len(windows) * len(egroups)
        self._say(
            f"FGSFT grid '{self.grid}': {len(egroups)} electrode groups x {len(bands)} bands x "
            f"{len(windows)} windows = {n_seg} segments, {n_folds}-fold LOBO, {len(y)} trials"
            + (f", {len(self.classes_)} classes one-vs-rest" if len(self.classes_) > 2 else "")
        )
        # -- 1. score every segment (parallel over bands) ---------------------------------
        acc, margin, feats = self._score_segments(X, y, blocks, bands, windows, egroups, t_start)
        t_scored = time.perf_counter()
        # -- 2. rank, 3. merged sets -------------------------------------------------------
        order = np.lexsort((-margin.ravel(), -acc.ravel()))  # accuracy, then margin, descending
        b_idx, w_idx, g_idx = np.unravel_index(order, acc.shape)
        max_j = max(self.step, int(self.max_fraction * n_seg) // self.step * self.step)
        max_j = min(max_j, n_seg // self.step * self.step)
        ranked_feats = feats[b_idx[:max_j], w_idx[:max_j], g_idx[:max_j]]
        js, merged_acc, oof = lobo_gram_scores(ranked_feats, y, blocks, self.step, max_j,
                                               self._say, len(self.classes_))
        # top-K merged sets: highest accuracy, ties to the smaller (cheaper) set
        best = sorted(range(len(js)), key=lambda i: (-merged_acc[i], js[i]))[: self.n_members]
        chosen = [js[i] for i in best]
        self._say(
            f"ensemble: top-{len(chosen)} merged sets j = {chosen} with LOBO accuracy "
            f"{[round(float(merged_acc[i]), 3) for i in best]}"
        )
        # -- 4. final filters and SVMs on all training data --------------------------------
        n_used = max(chosen)
        seg_table = np.stack([g_idx[:n_used], b_idx[:n_used], w_idx[:n_used]], axis=1)
        self.model_ = fit_ensemble(X, y, len(self.classes_), sfreq, bands, windows, egroups,
                                   seg_table, chosen, oof, n_filters=self.n_filters,
                                   lam=self.lam, max_iter=self.divcsp_max_iter,
                                   causal_lead=self._causal_lead())
        t_end = time.perf_counter()
        self.scores_ = {
            "grid": self.grid,
            "bands": [list(b) for b in bands],
            "windows_s": [[s / sfreq, e / sfreq] for s, e in windows],
            "groups": [{"name": g.name, "channels": [ch_names[c] for c in g.channels]}
                       for g in egroups],
            "segment_lobo_accuracy": acc.tolist(),  # [band][window][group]
            "n_segments": int(n_seg),
            "n_blocks": int(n_folds),
            "merged_j": js,
            "merged_lobo_accuracy": merged_acc,
            "chosen_j": chosen,
            "chosen_lobo_accuracy": [merged_acc[i] for i in best],
            "n_segments_used": int(n_used),
            "seconds_scoring": round(t_scored - t_start, 2),
            "seconds_total": round(t_end - t_start, 2),
            "config": {k: v for k, v in self.get_params().items()
                       if k not in ("progress", "ch_names")},
        }
        self._say(f"FGSFT trained in {t_end - t_start:.1f} s "
                  f"({n_used} of {n_seg} segments used)")
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_trials, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3:
            raise ValueError(f"X has shape {X.shape}; expected epochs (n_trials, n_channels, "
                             "n_samples)")
        return self.model_.predict_proba(self._analysed(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable class label of each epoch, shape (n_trials,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=-1)]
