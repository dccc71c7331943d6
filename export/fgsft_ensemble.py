"""FGSFT final ensemble (Liu et al. 2025, Algorithm 2, step 4): the chosen merged sets refitted
on all training data, as an :class:`edge.decoders.fgsft.FGSFTModel`.

The divCSP filters of every used segment (one set per head) and each member's linear SVM per
head are fitted on all training trials; each head's Platt sigmoid is fitted on the member's
out-of-fold LOBO decision values. Features are computed by the edge model itself, so the
exporter and the edge share one feature implementation.

The SVM is libsvm's C-SVC with a linear kernel and C = 1 (what ``sklearn.svm.SVC(kernel="linear",
C=1)`` runs; see :mod:`export.linear_svm`): hinge loss, unpenalised bias, which is MATLAB
``fitclinear``'s default objective (lambda = 1/n) up to the solver.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from edge.decoders.fgsft import FGSFTModel
from edge.features import covariances, sub_covariances
from edge.filterbank import band_signal, bandpass_sos
from export.divcsp import divcsp
from export.electrode_groups import ElectrodeGroup
from export.fgsft_selection import head_labels
from export.linear_svm import fit_linear_svm

__all__ = ["platt_scaling", "final_filters", "fit_ensemble"]


def platt_scaling(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling ``p = sigmoid(a * decision + b)`` fitted on out-of-fold decision values.

    A near-unregularised logistic regression on the 1-D decision value (Platt 1999 without
    the target smoothing).
    """
    lr = LogisticRegression(C=1e4).fit(decision[:, None], y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def final_filters(X: np.ndarray, heads: list[np.ndarray], sfreq: float,
                  bands: list[tuple[float, float]], windows: list[tuple[int, int]],
                  egroups: list[ElectrodeGroup], seg_table: np.ndarray, n_filters: int,
                  lam: float, max_iter: int, causal_lead: int | None = None) -> list[np.ndarray]:
    """divCSP filters of every segment of ``seg_table`` (rows ``(group, band, window)``) for every
    head, head-major, fitted on all trials."""
    n_seg = len(seg_table)
    filters: list[np.ndarray] = [np.zeros(0)] * (n_seg * len(heads))
    for b in np.unique(seg_table[:, 1]):
        xf = band_signal(X, bands[b][0], bands[b][1], sfreq, causal_lead)
        rows_b = np.flatnonzero(seg_table[:, 1] == b)
        for w in np.unique(seg_table[rows_b, 2]):
            start, stop = windows[w]
            cov = covariances(xf[..., start:stop])
            for s in rows_b[seg_table[rows_b, 2] == w]:
                chans = np.array(egroups[seg_table[s, 0]].channels)
                sub = sub_covariances(cov, chans)
                for h, yh in enumerate(heads):
                    filters[h * n_seg + s] = divcsp(sub, yh, d=min(n_filters, len(chans)),
                                                    lam=lam, max_iter=max_iter).filters
    return filters


def fit_ensemble(X: np.ndarray, y: np.ndarray, n_classes: int, sfreq: float,
                 bands: list[tuple[float, float]], windows: list[tuple[int, int]],
                 egroups: list[ElectrodeGroup], seg_table: np.ndarray, chosen: list[int],
                 oof: dict[int, np.ndarray], *, n_filters: int, lam: float,
                 max_iter: int, causal_lead: int | None = None) -> FGSFTModel:
    """The edge model of the chosen merged sets.

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_channels, n_samples)
    y : ndarray of int, shape (n_trials,)
        Encoded classes ``0 .. n_classes - 1``.
    seg_table : ndarray of int, shape (n_used, 3)
        ``(group, band, window)`` of the top-ranked segments, in rank order.
    chosen : list of int
        Each member's number of top segments ``j``.
    oof : dict
        ``j`` -> out-of-fold LOBO decision values, shape (n_trials, n_heads).
    causal_lead : int or None
        None: zero-phase model. An int: causal model; the first ``causal_lead`` samples of each
        epoch are the filters' warm-up, the rest is the analysed window.
    """
    heads = head_labels(y, n_classes)
    filters = final_filters(X, heads, sfreq, bands, windows, egroups, seg_table, n_filters, lam,
                            max_iter, causal_lead)
    model = FGSFTModel(
        sfreq=float(sfreq), n_channels=X.shape[1], n_samples=X.shape[2] - (causal_lead or 0),
        bands=np.array(bands, dtype=float), windows=np.array(windows, dtype=np.int64),
        groups=[np.array(g.channels, dtype=np.int64) for g in egroups],
        segments=seg_table.astype(np.int64), filters=filters,
        members=[], coefs=[], intercepts=np.zeros(0), platt=np.zeros((0, 2)),
        n_classes=n_classes, causal=causal_lead is not None,
        sos=np.stack([bandpass_sos(float(lo), float(hi), float(sfreq)) for lo, hi in bands]),
    )
    F_all = model.segment_features(X)  # (n, n_heads, n_used, d), the edge's own code
    members, coefs, intercepts, platt = [], [], [], []
    for j in chosen:
        members.append(np.arange(j, dtype=np.int64))
        for h, yh in enumerate(heads):
            weights, bias = fit_linear_svm(F_all[:, h, :j].reshape(len(y), -1), yh)
            coefs.append(weights)
            intercepts.append(bias)
            platt.append(platt_scaling(oof[j][:, h], yh))
    model.members, model.coefs = members, coefs
    model.intercepts, model.platt = np.array(intercepts), np.array(platt)
    model.validate()
    return model
