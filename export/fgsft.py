"""FGSFT training: segment grid, divCSP + SVM scoring, wrapper selection, top-K ensemble.

Liu et al. 2025, Algorithm 2. Every spatial-frequency-time segment (electrode group x band x
time window) is scored by leave-one-block-out (LOBO) cross-validation of divCSP + linear SVM;
segments are ranked; for ``j = D, 2D, ...`` the features of the top-``j`` segments are
concatenated and scored by LOBO again; the ``K`` best merged sets become the ensemble, each with
its divCSP filters and SVM fitted on all training data and a Platt sigmoid fitted on its
out-of-fold LOBO decision values. divCSP and the SVM only ever see the training folds.

Shared work is computed once: each band is filtered once per epoch, each (band, window)
covariance once for all channels, and electrode groups are sub-matrices of it. The merged-set
search reuses the per-fold segment features and grows the per-fold Gram matrices incrementally,
so each merged set costs a kernel-SVM fit on a trials x trials matrix.

The SVM is libsvm's C-SVC with a linear kernel and C = 1 (what ``sklearn.svm.SVC(kernel="linear",
C=1)`` runs; see :mod:`export.linear_svm`): hinge loss, unpenalised bias, which is MATLAB
``fitclinear``'s default objective (lambda = 1/n) up to the solver.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from edge.decoders.fgsft import FGSFTModel
from edge.features import covariances, log_variance_features, sub_covariances
from edge.filterbank import bandpass
from export.divcsp import divcsp, divcsp_batch
from export.electrode_groups import ElectrodeGroup, all_groups
from export.grid import PAPER_WINDOW_LENGTHS, fgsft_bands, time_windows
from export.linear_svm import fit_kernel_svm, fit_linear_svm

__all__ = ["GridSpec", "FGSFTConfig", "FGSFTClassifier", "lobo_blocks", "GRIDS"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridSpec:
    """Which segments to consider."""

    window_lengths: tuple[float, ...] = PAPER_WINDOW_LENGTHS
    bandwidths: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0)
    band_low: float = 4.0
    band_high: float = 40.0
    narrow_high: float = 34.0

    def bands(self) -> list[tuple[float, float]]:
        return fgsft_bands(self.bandwidths, self.band_low, self.band_high, self.narrow_high)


GRIDS: dict[str, GridSpec] = {
    "paper": GridSpec(),
    # A quick grid for tests and demos: 2 of the 6 time scales and the 3 wider bandwidths.
    "fast": GridSpec(window_lengths=(0.7, 1.5), bandwidths=(8.0, 16.0, 32.0)),
}


@dataclass
class FGSFTConfig:
    """Hyper-parameters of FGSFT (defaults are the paper's)."""

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
    extra: dict[str, object] = field(default_factory=dict)


def lobo_blocks(groups: np.ndarray, min_blocks: int = 4) -> np.ndarray:
    """Cross-validation blocks: the recording runs, split into contiguous parts if too few.

    The paper's LOBO uses 5-6 recording blocks. With fewer runs than ``min_blocks`` (e.g. two
    eegmmidb runs of 15 trials left for training), each run is cut into contiguous parts in
    trial order so that there are at least ``min_blocks`` blocks.

    Returns
    -------
    ndarray of int, shape (n_trials,)
    """
    runs = np.unique(groups)
    if len(runs) >= min_blocks:
        return np.searchsorted(runs, groups)
    parts = int(np.ceil(min_blocks / len(runs)))
    blocks = np.empty(len(groups), dtype=np.int64)
    for r, run in enumerate(runs):
        idx = np.flatnonzero(groups == run)
        for p, chunk in enumerate(np.array_split(idx, parts)):
            blocks[chunk] = r * parts + p
    return blocks


def _score_band(
    X: np.ndarray, y: np.ndarray, blocks: np.ndarray, band: tuple[float, float], sfreq: float,
    windows: list[tuple[int, int]], groups: list[ElectrodeGroup], d: int, lam: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score every (group, window) segment of one band by LOBO divCSP + SVM.

    Returns
    -------
    acc : ndarray, shape (n_windows, n_groups)
        Mean LOBO accuracy over folds.
    margin : ndarray, shape (n_windows, n_groups)
        Mean out-of-fold signed decision value (tie-breaker).
    feats : ndarray, shape (n_windows, n_groups, n_folds, n_trials, d)
        Features of every trial computed with the filters of each fold's training trials.
    """
    with threadpool_limits(1):
        folds = np.unique(blocks)
        xf = bandpass(X, band[0], band[1], sfreq)
        # (n_windows, n_trials, C, C): every window's covariances, all channels
        cov = np.stack([covariances(xf[..., start:stop]) for start, stop in windows])
        acc = np.zeros((len(windows), len(groups)))
        margin = np.zeros_like(acc)
        feats = np.zeros((len(windows), len(groups), len(folds), len(y), d))
        ysign = np.where(y == 1, 1.0, -1.0)
        for g, group in enumerate(groups):
            cg = sub_covariances(cov, np.array(group.channels))
            dg = min(d, len(group.channels))
            for f, fold in enumerate(folds):
                train = blocks != fold
                # the windows of this group and fold, solved together
                fits = divcsp_batch(cg[:, train], y[train], d=dg, lam=lam, max_iter=max_iter)
                W = np.stack([r.filters for r in fits])  # (n_windows, C_g, dg)
                F = log_variance_features(cg, W[:, None])  # (n_windows, n_trials, dg)
                feats[:, g, f, :, :dg] = F
                for w in range(len(windows)):
                    weights, bias = fit_linear_svm(F[w, train], y[train])
                    dec = F[w, ~train] @ weights + bias
                    acc[w, g] += np.mean((dec > 0) == (y[~train] == 1)) / len(folds)
                    margin[w, g] += np.mean(dec * ysign[~train]) / len(folds)
        return acc, margin, feats


def _lobo_gram_scores(
    seg_feats: np.ndarray, y: np.ndarray, blocks: np.ndarray, step: int, max_j: int,
    progress: Callable[[str], None],
) -> tuple[list[int], list[float], dict[int, np.ndarray]]:
    """LOBO accuracy of the top-j merged sets, j = step, 2 step, ..., max_j.

    ``seg_feats`` is (n_ranked, n_folds, n_trials, d), in rank order. Per fold the Gram matrix of
    the concatenated features grows by the ``step`` new segments at each j.

    Returns the j values, their accuracies and the out-of-fold decision values of each j.
    """
    folds = np.unique(blocks)
    n = len(y)
    grams = np.zeros((len(folds), n, n))
    js: list[int] = []
    accs: list[float] = []
    oof: dict[int, np.ndarray] = {}
    for j in range(step, max_j + 1, step):
        new = seg_feats[j - step : j]  # (step, n_folds, n, d)
        for f in range(len(folds)):
            F = new[:, f].transpose(1, 0, 2).reshape(n, -1)
            grams[f] += F @ F.T
        dec = np.zeros(n)
        acc = 0.0
        for f, fold in enumerate(folds):
            tr, te = blocks != fold, blocks == fold
            support, dual, bias = fit_kernel_svm(grams[f][np.ix_(tr, tr)], y[tr])
            dec[te] = grams[f][np.ix_(te, np.flatnonzero(tr)[support])] @ dual + bias
            acc += float(np.mean((dec[te] > 0) == (y[te] == 1))) / len(folds)
        js.append(j)
        accs.append(acc)
        oof[j] = dec
        if len(js) % 50 == 0:
            progress(f"merged sets: j = {j}/{max_j}, best LOBO accuracy {max(accs):.3f}")
    return js, accs, oof


def _platt(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling ``p = sigmoid(a * decision + b)`` fitted on out-of-fold decision values.

    A near-unregularised logistic regression on the 1-D decision value (Platt 1999 without
    the target smoothing).
    """
    lr = LogisticRegression(C=1e4).fit(decision[:, None], y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


class FGSFTClassifier:
    """Fine-grained spatial-frequency-time decoder (Liu et al. 2025).

    Parameters
    ----------
    config : FGSFTConfig

    Attributes
    ----------
    model_ : edge.decoders.fgsft.FGSFTModel
        The trained ensemble; the edge runs this same object.
    scores_ : dict
        Segment LOBO accuracies (for the report pictures), merged-set accuracies, the chosen
        sets and timings.
    """

    def __init__(self, config: FGSFTConfig | None = None,
                 progress: Callable[[str], None] | None = None):
        self.config = config or FGSFTConfig()
        self.progress = progress or (lambda msg: log.info(msg))

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, sfreq: float,
            ch_names: list[str]) -> FGSFTClassifier:
        """Train on epochs.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_channels, n_samples)
            Epochs of exactly the analysed window, µV.
        y : ndarray of int, shape (n_trials,)
            Class 0 or 1.
        groups : ndarray of int, shape (n_trials,)
            Recording run of each trial (LOBO blocks are derived from it).
        sfreq : float
        ch_names : list of str
        """
        # BLAS threads only slow down the many tiny matrix products here
        with threadpool_limits(1):
            return self._fit(X, y, groups, sfreq, ch_names)

    def _fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, sfreq: float,
             ch_names: list[str]) -> FGSFTClassifier:
        cfg = self.config
        if cfg.grid not in GRIDS:
            raise ValueError(f"unknown grid {cfg.grid!r}; choose from {', '.join(GRIDS)}")
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("FGSFT is a binary decoder: y must contain classes 0 and 1")
        t_start = time.perf_counter()
        spec = GRIDS[cfg.grid]
        bands = spec.bands()
        windows = time_windows(X.shape[-1], sfreq, spec.window_lengths)
        if not windows:
            raise ValueError(f"the {X.shape[-1] / sfreq:.2f} s epoch is shorter than every window")
        egroups = all_groups(X, sfreq, ch_names)
        blocks = lobo_blocks(groups, cfg.min_blocks)
        n_folds = len(np.unique(blocks))
        n_seg = len(bands) * len(windows) * len(egroups)
        self.progress(
            f"FGSFT grid '{cfg.grid}': {len(egroups)} electrode groups x {len(bands)} bands x "
            f"{len(windows)} windows = {n_seg} segments, {n_folds}-fold LOBO, {len(y)} trials"
        )
        # -- 1. score every segment (parallel over bands) ---------------------------------
        acc = np.zeros((len(bands), len(windows), len(egroups)))
        margin = np.zeros_like(acc)
        feats = np.zeros((len(bands), len(windows), len(egroups), n_folds, len(y), cfg.n_filters))
        jobs = Parallel(n_jobs=cfg.jobs, return_as="generator_unordered")(
            delayed(lambda b: (b, _score_band(X, y, blocks, bands[b], sfreq, windows, egroups,
                                              cfg.n_filters, cfg.lam, cfg.divcsp_max_iter)))(b)
            for b in range(len(bands))
        )
        for done, (b, (a, m, f)) in enumerate(jobs, start=1):
            acc[b], margin[b], feats[b] = a, m, f
            self.progress(
                f"segments: band {done}/{len(bands)} scored ({bands[b][0]:g}-{bands[b][1]:g} Hz), "
                f"best segment LOBO accuracy so far {acc[:, :, :].max():.3f} "
                f"[{time.perf_counter() - t_start:.0f} s]"
            )
        t_scored = time.perf_counter()
        # -- 2. rank, 3. merged sets -------------------------------------------------------
        flat_acc, flat_margin = acc.ravel(), margin.ravel()
        order = np.lexsort((-flat_margin, -flat_acc))  # accuracy, then margin, descending
        b_idx, w_idx, g_idx = np.unravel_index(order, acc.shape)
        max_j = max(cfg.step, int(cfg.max_fraction * n_seg) // cfg.step * cfg.step)
        max_j = min(max_j, n_seg // cfg.step * cfg.step)
        ranked_feats = feats[b_idx[:max_j], w_idx[:max_j], g_idx[:max_j]]
        js, merged_acc, oof = _lobo_gram_scores(ranked_feats, y, blocks, cfg.step, max_j,
                                                self.progress)
        # top-K merged sets: highest accuracy, ties to the smaller (cheaper) set
        best = sorted(range(len(js)), key=lambda i: (-merged_acc[i], js[i]))[: cfg.n_members]
        chosen = [js[i] for i in best]
        self.progress(
            f"ensemble: top-{len(chosen)} merged sets j = {chosen} with LOBO accuracy "
            f"{[round(float(merged_acc[i]), 3) for i in best]}"
        )
        # -- 4. final filters and SVMs on all training data --------------------------------
        n_used = max(chosen)
        seg_table = np.stack([g_idx[:n_used], b_idx[:n_used], w_idx[:n_used]], axis=1)
        filters = self._final_filters(X, y, sfreq, bands, windows, egroups, seg_table)
        model = FGSFTModel(
            sfreq=float(sfreq), n_channels=X.shape[1], n_samples=X.shape[2],
            bands=np.array(bands, dtype=float), windows=np.array(windows, dtype=np.int64),
            groups=[np.array(g.channels, dtype=np.int64) for g in egroups],
            segments=seg_table.astype(np.int64), filters=filters,
            members=[], coefs=[], intercepts=np.zeros(0), platt=np.zeros((0, 2)),
        )
        F_all = model.segment_features(X)  # (n, n_used, d), the edge's own code
        members, coefs, intercepts, platt = [], [], [], []
        for j in chosen:
            Fj = F_all[:, :j].reshape(len(y), -1)
            weights, bias = fit_linear_svm(Fj, y)
            members.append(np.arange(j, dtype=np.int64))
            coefs.append(weights)
            intercepts.append(bias)
            platt.append(_platt(oof[j], y))
        model.members, model.coefs = members, coefs
        model.intercepts, model.platt = np.array(intercepts), np.array(platt)
        model.validate()
        self.model_ = model
        t_end = time.perf_counter()
        self.scores_ = {
            "grid": cfg.grid,
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
            "config": asdict(cfg),
        }
        self.progress(f"FGSFT trained in {t_end - t_start:.1f} s "
                      f"({n_used} of {n_seg} segments used)")
        return self

    def _final_filters(self, X, y, sfreq, bands, windows, egroups, seg_table) -> list[np.ndarray]:
        cfg = self.config
        filters: list[np.ndarray] = [np.zeros(0)] * len(seg_table)
        for b in np.unique(seg_table[:, 1]):
            xf = bandpass(X, bands[b][0], bands[b][1], sfreq)
            rows_b = np.flatnonzero(seg_table[:, 1] == b)
            for w in np.unique(seg_table[rows_b, 2]):
                start, stop = windows[w]
                cov = covariances(xf[..., start:stop])
                for s in rows_b[seg_table[rows_b, 2] == w]:
                    chans = np.array(egroups[seg_table[s, 0]].channels)
                    W = divcsp(sub_covariances(cov, chans), y, d=min(cfg.n_filters, len(chans)),
                               lam=cfg.lam, max_iter=cfg.divcsp_max_iter).filters
                    filters[s] = W
        return filters

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_trials, 2)."""
        return self.model_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=-1)
