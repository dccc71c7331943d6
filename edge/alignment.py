"""Re-centering of spatial covariances (cross-subject transfer, online adaptation), numpy only.

One person's (or one session's) window covariances cluster around their own mean ``R``: head
size, cap placement and impedances move the whole cloud. Re-centering every covariance to the
identity with the whitener ``W = R^-1/2``::

    C -> W C W^T

removes that shift, so covariances of different people (Riemannian alignment, Zanini et al.
2018, ``metric="riemann"``: ``R`` is the Riemannian mean) or raw trials (Euclidean alignment,
He & Wu 2020, ``metric="euclid"``: ``R`` is the arithmetic mean, ``X -> W X``) share one
reference and one classifier. The exporter (pooled training, :mod:`export.riemann`, the nets)
and the runtime (:class:`OnlineReference`: the wearer's recent windows, never labels) use these
functions, so both sides re-center alike.

All matrix functions are eigen-decompositions of symmetric matrices (``numpy.linalg.eigh``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["METRICS", "reference_mean", "whitener", "recenter", "euclidean_align",
           "trial_covariances", "sym_fn", "geodesic", "OnlineReference"]

#: The means a reference can be: Riemannian (affine-invariant) or arithmetic.
METRICS = ("riemann", "euclid")


def sym_fn(C: np.ndarray, fn, spd: bool = True) -> np.ndarray:
    """``V fn(w) V^T`` of symmetric matrices ``C`` (..., c, c); ``spd``: their eigenvalues
    ``w`` must be positive (ValueError otherwise)."""
    w, V = np.linalg.eigh(C)
    if spd and (np.any(w <= 0) or not np.all(np.isfinite(w))):
        raise ValueError("matrix is not symmetric positive-definite (eigenvalue "
                         f"{float(np.min(w)):.3g})")
    return (V * fn(w)[..., None, :]) @ np.swapaxes(V, -1, -2)


def _half_powers(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``A^1/2`` and ``A^-1/2`` of one symmetric positive-definite matrix, from one eigh."""
    w, V = np.linalg.eigh(A)
    if np.any(w <= 0) or not np.all(np.isfinite(w)):
        raise ValueError("matrix is not symmetric positive-definite (eigenvalue "
                         f"{float(np.min(w)):.3g})")
    r = np.sqrt(w)
    return (V * r) @ V.T, (V / r) @ V.T


def _check_covs(covs: np.ndarray, what: str = "covariances") -> np.ndarray:
    covs = np.asarray(covs, dtype=np.float64)
    if covs.ndim != 3 or covs.shape[1] != covs.shape[2] or len(covs) == 0:
        raise ValueError(f"{what}: shape {covs.shape}, expected (n >= 1, c, c)")
    if not np.all(np.isfinite(covs)):
        raise ValueError(f"{what}: NaN or infinite entries")
    return covs


def trial_covariances(X: np.ndarray) -> np.ndarray:
    """(n, c, t) -> (n, c, c): ``X X^T / t`` of each trial, what Euclidean alignment averages."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(f"trials of shape {X.shape}: expected (n_trials, n_channels, "
                         "n_samples)")
    return np.einsum("nct,ndt->ncd", X, X) / X.shape[-1]


def reference_mean(covs: np.ndarray, metric: str = "riemann", weights: np.ndarray | None = None,
                   tol: float = 1e-8, max_iter: int = 100) -> np.ndarray:
    """The mean of covariances (n, c, c): arithmetic (``euclid``) or Riemannian (``riemann``,
    the affine-invariant Fréchet mean by the fixed point ``M <- M^1/2 exp(mean log(M^-1/2 C
    M^-1/2)) M^1/2`` from the arithmetic mean, as ``pyriemann.utils.mean.mean_riemann``)."""
    covs = _check_covs(covs)
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r}: choose from {', '.join(METRICS)}")
    w = np.full(len(covs), 1.0 / len(covs)) if weights is None else \
        np.asarray(weights, dtype=np.float64) / np.sum(weights)
    if w.shape != (len(covs),) or np.any(w < 0):
        raise ValueError(f"weights of shape {w.shape} for {len(covs)} covariances")
    M = np.einsum("n,ncd->cd", w, covs)
    if metric == "euclid":
        return M
    for _ in range(max_iter):
        half, ihalf = _half_powers(M)
        T = np.einsum("n,ncd->cd", w, sym_fn(ihalf @ covs @ ihalf, np.log))
        M = half @ sym_fn(T, np.exp, spd=False) @ half
        M = (M + M.T) / 2
        if np.linalg.norm(T) < tol:
            break
    return M


def whitener(R: np.ndarray) -> np.ndarray:
    """``R^-1/2`` of a reference (symmetric positive-definite) matrix."""
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"reference of shape {R.shape}: expected a square matrix")
    return sym_fn(R, lambda v: 1.0 / np.sqrt(v))


def recenter(covs: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``W C W^T`` of each covariance (..., c, c): re-centered so that the mean ``W`` whitens
    becomes the identity."""
    return W @ np.asarray(covs, dtype=np.float64) @ np.swapaxes(W, -1, -2)


def euclidean_align(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``W X`` of trials or windows (..., c, t): Euclidean alignment of the signals themselves
    (what a net sees), ``W = whitener(reference_mean(trial_covariances(X), "euclid"))``."""
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or X.shape[-2] != W.shape[1]:
        raise ValueError(f"whitener of shape {W.shape} for signals of shape {X.shape}")
    return W @ X


def geodesic(A: np.ndarray, B: np.ndarray, t: float, metric: str = "riemann") -> np.ndarray:
    """The point a fraction ``t`` of the way from ``A`` to ``B``: ``A^1/2 (A^-1/2 B A^-1/2)^t
    A^1/2`` (Riemannian) or ``(1 - t) A + t B`` (Euclidean)."""
    if metric == "euclid":
        return (1.0 - t) * A + t * B
    half, ihalf = _half_powers(A)
    G = half @ sym_fn(ihalf @ B @ ihalf, lambda v: v ** t) @ half
    return (G + G.T) / 2


class OnlineReference:
    """A running mean of the wearer's recent window covariances (no labels).

    The ``n``-th update moves the mean a fraction ``max(1/n, 1/horizon_windows)`` of the way to
    the new covariance along the geodesic (``metric="riemann"``) or the straight line
    (``euclid``): the first ``horizon_windows`` updates are the incremental mean of all windows
    seen (exactly the arithmetic mean for ``euclid``, converging to the Riemannian mean for
    stationary data), later ones an exponential forgetting with that time constant.

    Parameters
    ----------
    n_channels : int
    horizon_windows : float
        Time constant of the forgetting, in windows (``horizon_s / hop_s`` in the runtime).
    metric : {"riemann", "euclid"}
    min_windows : int, optional
        Updates before :attr:`ready` (default a quarter of the horizon, at least 1).
    """

    def __init__(self, n_channels: int, horizon_windows: float, metric: str = "riemann",
                 min_windows: int | None = None):
        if metric not in METRICS:
            raise ValueError(f"metric {metric!r}: choose from {', '.join(METRICS)}")
        if not horizon_windows >= 1:
            raise ValueError(f"horizon of {horizon_windows} windows: expected >= 1")
        self.n_channels = int(n_channels)
        self.horizon_windows = float(horizon_windows)
        self.metric = metric
        self.min_windows = max(1, int(horizon_windows // 4)) if min_windows is None \
            else max(1, int(min_windows))
        self.reset()

    def reset(self) -> None:
        """Forget every window (after a fault or a gap: the cap may have moved)."""
        self.n = 0
        self._mean: np.ndarray | None = None
        self._whitener: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        """At least ``min_windows`` windows since the start or the last reset."""
        return self.n >= self.min_windows

    @property
    def mean(self) -> np.ndarray:
        if self._mean is None:
            raise ValueError("online reference: no window seen yet")
        return self._mean

    @property
    def whitener(self) -> np.ndarray:
        """``mean^-1/2`` (computed once per update, when asked)."""
        if self._whitener is None:
            self._whitener = whitener(self.mean)
        return self._whitener

    def update(self, C: np.ndarray) -> None:
        """Fold in one covariance (c, c), or several (n, c, c) in order."""
        C = np.asarray(C, dtype=np.float64)
        covs = _check_covs(C[None] if C.ndim == 2 else C, "online reference update")
        if covs.shape[1] != self.n_channels:
            raise ValueError(f"online reference of {self.n_channels} channels: covariance of "
                             f"shape {covs.shape[1:]}")
        for c in covs:
            self.n += 1
            step = max(1.0 / self.n, 1.0 / self.horizon_windows)
            self._mean = c.copy() if self._mean is None else \
                geodesic(self._mean, c, step, self.metric)
        self._whitener = None
