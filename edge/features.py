"""Spatial features shared by the exporter and the edge: covariances and normalised log-variance.

Pure functions over arrays. Training computes covariances of every (band, window) once for all
channels and takes sub-matrices per electrode group; the edge does the same for the few segments
a bundle selected, with the same functions, so a feature is computed by one piece of code.
"""

from __future__ import annotations

import numpy as np

__all__ = ["covariances", "sub_covariances", "log_variance_features"]


def covariances(x: np.ndarray) -> np.ndarray:
    """Uncentred spatial covariance ``x x' / n`` along the last axis.

    The signals are band-passed, hence zero-mean in expectation; not subtracting the window mean
    keeps short windows in low bands (0.2 s of 4-8 Hz is under one cycle) from losing most of
    their power to the mean estimate.

    Parameters
    ----------
    x : ndarray, shape (..., n_channels, n_samples)

    Returns
    -------
    ndarray, shape (..., n_channels, n_channels)
    """
    return np.matmul(x, np.swapaxes(x, -1, -2)) / x.shape[-1]


def sub_covariances(cov: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """Covariance of a channel subset: the sub-matrix ``cov[..., channels, channels]``."""
    idx = np.asarray(channels)
    return cov[..., idx[:, None], idx[None, :]]


def log_variance_features(cov: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Normalised log-variance of spatially filtered signals (Liu et al. 2025, eq. 2).

    ``f_k = -ln(var_k / mean_j var_j)`` with ``var_k = w_k' C w_k``.

    Parameters
    ----------
    cov : ndarray, shape (..., n_channels, n_channels)
    filters : ndarray, shape (n_channels, n_filters)

    Returns
    -------
    ndarray, shape (..., n_filters)
    """
    var = np.sum(np.matmul(cov, filters) * filters, axis=-2)
    var = np.maximum(var, np.finfo(float).tiny)
    return -np.log(var / var.mean(axis=-1, keepdims=True))
