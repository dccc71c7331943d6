"""FGSFT segment scoring and merged-set search (Liu et al. 2025, Algorithm 2, steps 1-3).

Every spatial-frequency-time segment (electrode group x band x time window) is scored by
leave-one-block-out (LOBO) cross-validation of divCSP + linear SVM; segments are ranked; for
``j = D, 2D, ...`` the features of the top-``j`` segments are concatenated and scored by LOBO
again. divCSP and the SVM only ever see the training folds.

Two classes use one binary problem (class 1 against class 0). N > 2 classes are one-vs-rest:
one divCSP + SVM "head" per class (that class against the rest); a trial is predicted as the head
with the largest decision value.

Shared work is computed once: each band is filtered once per epoch, each (band, window)
covariance once for all channels, and electrode groups are sub-matrices of it. The merged-set
search reuses the per-fold segment features and grows the per-fold Gram matrices incrementally,
so each merged set costs a kernel-SVM fit on a trials x trials matrix per head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from edge.features import covariances, log_variance_features, sub_covariances
from edge.filterbank import band_signal
from export.divcsp import divcsp_batch
from export.electrode_groups import ElectrodeGroup
from export.grid import PAPER_WINDOW_LENGTHS, fgsft_bands
from export.linear_svm import fit_kernel_svm, fit_linear_svm

__all__ = ["GridSpec", "GRIDS", "lobo_blocks", "stratified_blocks", "head_labels", "score_band",
           "lobo_gram_scores"]


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


def stratified_blocks(y: np.ndarray, n_blocks: int = 4) -> np.ndarray:
    """Blocks when no recording runs are known: each class's trials, in trial order, are cut
    into ``n_blocks`` contiguous parts, and block ``b`` takes part ``b`` of every class (so every
    training fold sees every class).

    Returns
    -------
    ndarray of int, shape (n_trials,)
    """
    blocks = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        for b, chunk in enumerate(np.array_split(np.flatnonzero(y == c), n_blocks)):
            blocks[chunk] = b
    return blocks


def head_labels(y: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """0/1 labels of each binary head: ``[y]`` for two classes, else ``y == c`` per class."""
    if n_classes == 2:
        return [y]
    return [(y == c).astype(y.dtype) for c in range(n_classes)]


def _fold_scores(dec: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """Accuracy and mean signed margin of decision values ``dec`` (..., n_test, n_heads)."""
    if n_classes == 2:
        d = dec[..., 0]
        return (np.mean((d > 0) == (y == 1), axis=-1),
                np.mean(d * np.where(y == 1, 1.0, -1.0), axis=-1))
    true = np.take_along_axis(dec, np.broadcast_to(y[:, None], dec.shape[:-1] + (1,)), -1)
    other = np.where(np.arange(n_classes) == y[:, None], -np.inf, dec).max(axis=-1)
    return np.mean(np.argmax(dec, axis=-1) == y, axis=-1), np.mean(true[..., 0] - other, axis=-1)


def score_band(
    X: np.ndarray, y: np.ndarray, blocks: np.ndarray, band: tuple[float, float], sfreq: float,
    windows: list[tuple[int, int]], groups: list[ElectrodeGroup], d: int, lam: float,
    max_iter: int, n_classes: int = 2, causal_lead: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score every (group, window) segment of one band by LOBO divCSP + SVM.

    ``causal_lead``: None filters zero-phase; an int filters causally and drops that many
    warm-up samples (:func:`edge.filterbank.band_signal`).

    Returns
    -------
    acc : ndarray, shape (n_windows, n_groups)
        Mean LOBO accuracy over folds.
    margin : ndarray, shape (n_windows, n_groups)
        Mean out-of-fold signed decision value (tie-breaker).
    feats : ndarray, shape (n_windows, n_groups, n_folds, n_trials, n_heads, d)
        Features of every trial computed with the filters of each fold's training trials.
    """
    heads = head_labels(y, n_classes)
    with threadpool_limits(1):
        folds = np.unique(blocks)
        xf = band_signal(X, band[0], band[1], sfreq, causal_lead)
        # (n_windows, n_trials, C, C): every window's covariances, all channels
        cov = np.stack([covariances(xf[..., start:stop]) for start, stop in windows])
        acc = np.zeros((len(windows), len(groups)))
        margin = np.zeros_like(acc)
        feats = np.zeros((len(windows), len(groups), len(folds), len(y), len(heads), d))
        for g, group in enumerate(groups):
            cg = sub_covariances(cov, np.array(group.channels))
            dg = min(d, len(group.channels))
            for f, fold in enumerate(folds):
                train = blocks != fold
                dec = np.empty((len(windows), int(np.sum(~train)), len(heads)))
                for h, yh in enumerate(heads):
                    # the windows of this group and fold, solved together
                    fits = divcsp_batch(cg[:, train], yh[train], d=dg, lam=lam,
                                        max_iter=max_iter)
                    W = np.stack([r.filters for r in fits])  # (n_windows, C_g, dg)
                    F = log_variance_features(cg, W[:, None])  # (n_windows, n_trials, dg)
                    feats[:, g, f, :, h, :dg] = F
                    for w in range(len(windows)):
                        weights, bias = fit_linear_svm(F[w, train], yh[train])
                        dec[w, :, h] = F[w, ~train] @ weights + bias
                a, m = _fold_scores(dec, y[~train], n_classes)
                acc[:, g] += a / len(folds)
                margin[:, g] += m / len(folds)
        return acc, margin, feats


def lobo_gram_scores(
    seg_feats: np.ndarray, y: np.ndarray, blocks: np.ndarray, step: int, max_j: int,
    progress: Callable[[str], None], n_classes: int = 2,
) -> tuple[list[int], list[float], dict[int, np.ndarray]]:
    """LOBO accuracy of the top-j merged sets, j = step, 2 step, ..., max_j.

    ``seg_feats`` is (n_ranked, n_folds, n_trials, n_heads, d), in rank order. Per fold and head
    the Gram matrix of the concatenated features grows by the ``step`` new segments at each j.

    Returns the j values, their accuracies and the out-of-fold decision values of each j,
    shape (n_trials, n_heads).
    """
    heads = head_labels(y, n_classes)
    folds = np.unique(blocks)
    n = len(y)
    grams = np.zeros((len(heads), len(folds), n, n))
    js: list[int] = []
    accs: list[float] = []
    oof: dict[int, np.ndarray] = {}
    for j in range(step, max_j + 1, step):
        new = seg_feats[j - step : j]  # (step, n_folds, n, n_heads, d)
        for h in range(len(heads)):
            for f in range(len(folds)):
                F = new[:, f, :, h].transpose(1, 0, 2).reshape(n, -1)
                grams[h, f] += F @ F.T
        dec = np.zeros((n, len(heads)))
        acc = 0.0
        for f, fold in enumerate(folds):
            tr, te = blocks != fold, blocks == fold
            for h, yh in enumerate(heads):
                support, dual, bias = fit_kernel_svm(grams[h, f][np.ix_(tr, tr)], yh[tr])
                dec[te, h] = grams[h, f][np.ix_(te, np.flatnonzero(tr)[support])] @ dual + bias
            acc += float(_fold_scores(dec[te], y[te], n_classes)[0]) / len(folds)
        js.append(j)
        accs.append(acc)
        oof[j] = dec
        if len(js) % 50 == 0:
            progress(f"merged sets: j = {j}/{max_j}, best LOBO accuracy {max(accs):.3f}")
    return js, accs, oof
