"""Euclidean alignment of the nets' training windows (He & Wu 2020; issue 13 item 2).

Each subject's preprocessed windows X_i (C, T) are replaced by ``W X_i`` with ``W = R^-1/2``,
R the mean spatial covariance of that subject's *training* windows: after it every subject's
mean covariance is the identity, so windows of several people (a pool) and of the target share
one reference. The whitener is computed and applied by :mod:`edge.alignment` (the edge's own
code: the exporter computes exactly what the device will), stored in the bundle with the
decoder, and applied by :mod:`edge.decoders.neural` between preprocessing and the model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["alignment_of", "align_windows"]


def alignment_of(windows: np.ndarray) -> dict[str, Any]:
    """The manifest's ``alignment`` entry for preprocessed training windows (n, C, T).

    Returns
    -------
    dict
        ``method`` ("euclidean"), ``whitener`` (C x C, nested lists), ``reference`` (R),
        ``n_windows``.
    """
    from edge.alignment import reference_mean, whitener

    windows = np.asarray(windows, dtype=np.float64)
    if windows.ndim != 3 or len(windows) < 2:
        raise ValueError(f"alignment needs at least two windows (n, C, T), got {windows.shape}")
    ref = reference_mean(windows)
    w = whitener(ref)
    return {"method": "euclidean", "reference": np.asarray(ref).tolist(),
            "whitener": np.asarray(w).tolist(), "n_windows": int(len(windows))}


def align_windows(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``W @ x`` for every window of ``X`` (..., C, T) (the edge's product), float32."""
    from edge.alignment import euclidean_align

    X = np.asarray(X)
    flat = X.reshape(-1, *X.shape[-2:])
    return np.asarray(euclidean_align(flat, w), dtype=np.float32).reshape(X.shape)
