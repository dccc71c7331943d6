"""divCSP with intra-class regularisation (Samek et al. 2014; Liu et al. 2025, Algorithm 1).

Math
----
Let ``S_1, S_2`` be the class-mean covariances and ``P = (S_1 + S_2)^(-1/2)`` the whitening
matrix. With whitened covariances ``S~ = P S P'`` and an orthogonal ``R`` whose first ``d`` rows
``R_d`` span the projection, write ``B(S) = R_d S~ R_d'`` (a ``d x d`` matrix). divCSP maximises

    J(R) = (1 - lambda) * D_sym(B(S_1), B(S_2))
           - lambda * 1/2 * sum_c mean_i D_KL(B(S_c^i) || B(S_c))

where ``D_KL(A || B) = 1/2 (tr(B^-1 A) - ln det A + ln det B - d)`` is the KL divergence of
zero-mean Gaussians and ``D_sym(A, B) = D_KL(A||B) + D_KL(B||A)``.

The paper writes the inter-class term as ``D_K(R_d' S_1 R_d || R_d' S_2 R_d)`` and refers to
Samek et al. 2014 for the derivation; we use the symmetric divergence of that framework (with
it, the ``lambda = 0`` optimum is exactly CSP, and J does not depend on which class is called
"1"). The paper's ``1 / 2N`` normalisation of the intra-class term is taken per class as a mean
over that class's trials, which is the same for balanced classes.

Optimisation is gradient ascent on the orthogonal group: at the current ``R`` the Riemannian
gradient in the Lie algebra is the skew matrix ``G = A~ - A~'`` with ``A = sum_m Gamma_m
(R S~_m R')[:d, :]`` (``Gamma_m = dJ / dB_m``, ``A~`` is ``A`` padded to ``D x D``), and the update
is ``R <- expm(t G) R`` with an Armijo backtracking line search on ``t``; a step is taken only if
it increases J, so J never decreases. The paper initialises ``R`` at random; we start from the
CSP rotation (the ``lambda = 0`` optimum), which is deterministic and converges in few steps.

Problems that share their trials and channels (the time windows of one band and electrode
group) are solved in lockstep as a batch (:func:`divcsp_batch`): every numpy call then serves
all of them, which is what makes the paper grid affordable. Each problem keeps its own step size
and stopping point, so the result is the same as solving it alone.

Filters are ``W = V E`` with ``V' = R_d P`` and ``E`` the eigenvectors of ``V' S_1 V``, ordered so
that the most discriminative filter (eigenvalue furthest from 1/2) comes first.

References
----------
Samek, W., Kawanabe, M., Müller, K.-R. Divergence-based framework for common spatial patterns
algorithms. IEEE Rev. Biomed. Eng. 7:50-72, 2014.
Liu et al. A fine-grained spatial-frequency-time framework for motor imagery brain-computer
interface. IEEE J. Biomed. Health Inform. 29(6), 2025.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from edge.features import log_variance_features

__all__ = ["DivCSP", "DivCSPResult", "divcsp", "divcsp_batch", "divcsp_objective",
           "csp_filters"]


@dataclass
class DivCSPResult:
    """Outcome of one divCSP fit.

    Attributes
    ----------
    filters : ndarray, shape (n_channels, d)
        Spatial filters, most discriminative first.
    objective : list of float
        J after initialisation and after every accepted step.
    n_iter : int
    """

    filters: np.ndarray
    objective: list[float]
    n_iter: int


def _whitener(s: np.ndarray) -> np.ndarray:
    """``s^(-1/2)`` of a batch of SPD matrices (eigenvalues floored for rank deficiency)."""
    evals, evecs = np.linalg.eigh(s)
    evals = np.maximum(evals, evals[..., -1:] * 1e-10)
    return (evecs / np.sqrt(evals)[..., None, :]) @ np.swapaxes(evecs, -1, -2)


class _Problem:
    """A batch of divCSP problems sharing labels: whitened covariances, J and its gradient.

    Trials are stored sorted by class so that class means are slices; every evaluation is a few
    batched matrix products over all problems and trials at once.
    """

    def __init__(self, covs: np.ndarray, y: np.ndarray, d: int, lam: float):
        # covs: (n_problems, N, D, D)
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"divCSP is binary; got {len(classes)} classes")
        order = np.argsort(y != classes[0], kind="stable")
        self.n0 = int(np.sum(y == classes[0]))
        covs = covs[:, order]
        self.s1 = covs[:, : self.n0].mean(axis=1)  # (n_problems, D, D), unwhitened
        self.P = _whitener(self.s1 + covs[:, self.n0 :].mean(axis=1))
        self.trials = self.P[:, None] @ covs @ self.P[:, None]  # (n_problems, N, D, D)
        self.cls = (y[order] != classes[0]).astype(np.intp)
        self.d = d
        self.lam = lam

    def _class_means(self, a: np.ndarray) -> np.ndarray:
        """(n_problems, N, ...) -> (n_problems, 2, ...)"""
        return np.stack([a[:, : self.n0].mean(axis=1), a[:, self.n0 :].mean(axis=1)], axis=1)

    def value_and_parts(self, R: np.ndarray, idx: np.ndarray | None = None,
                        grad: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """J (n,) and, with ``grad``, the skew gradients (n, D, D) at rotations R (n, D, D).

        ``idx`` selects the problems R belongs to (default: all).
        """
        d, lam = self.d, self.lam
        trials = self.trials if idx is None else self.trials[idx]
        Rd = R[:, :d]  # (n, d, D)
        Y = Rd[:, None] @ trials  # (n, N, d, D): rows d of R S_i
        B = Y @ np.swapaxes(Rd, -1, -2)[:, None]  # (n, N, d, d): B(S_i)
        Bm = self._class_means(B)  # B(S_c) = mean_i B(S_i): B is linear in S
        inv_m = np.linalg.inv(Bm)  # (n, 2, d, d)
        tr = np.einsum("nij,nji->n", inv_m[:, 1], Bm[:, 0]) + np.einsum(
            "nij,nji->n", inv_m[:, 0], Bm[:, 1])
        J = (1.0 - lam) * (0.5 * tr - d)
        if lam > 0:
            logdet_m = np.linalg.slogdet(Bm)[1]  # (n, 2)
            logdet_i = np.linalg.slogdet(B)[1]  # (n, N)
            inv_c = inv_m[:, self.cls]  # (n, N, d, d)
            kl = 0.5 * (np.einsum("nkij,nkji->nk", inv_c, B) - logdet_i
                        + logdet_m[:, self.cls] - d)
            J = J - 0.5 * lam * (kl[:, : self.n0].mean(axis=1) + kl[:, self.n0 :].mean(axis=1))
        if not grad:
            return J, None
        # A = sum_m Gamma_m (R S_m R')[:d, :] = (sum_m Gamma_m Y_m) R'
        Ym = self._class_means(Y)  # (n, 2, d, D)
        i0, i1, b0, b1 = inv_m[:, 0], inv_m[:, 1], Bm[:, 0], Bm[:, 1]
        g1 = 0.5 * (i1 - i0 @ b1 @ i0)
        g2 = 0.5 * (i0 - i1 @ b0 @ i1)
        A = (1.0 - lam) * (g1 @ Ym[:, 0] + g2 @ Ym[:, 1])
        if lam > 0:
            # d/dB_i and d/dB_c of mean_i KL(B_i || B_c), per class
            gi = 0.5 * (inv_c - np.linalg.inv(B))  # (n, N, d, d)
            giY = self._class_means(gi @ Y)  # (n, 2, d, D)
            gc = 0.5 * (inv_m - inv_m @ Bm @ inv_m)  # (n, 2, d, d)
            A = A - 0.5 * lam * (giY.sum(axis=1) + (gc @ Ym).sum(axis=1))
        G = np.zeros_like(R)
        G[:, :d] = A @ np.swapaxes(R, -1, -2)
        return J, G - np.swapaxes(G, -1, -2)


def divcsp_objective(covs: np.ndarray, y: np.ndarray, R: np.ndarray, d: int = 4,
                     lam: float = 0.1) -> tuple[float, np.ndarray]:
    """J(R) and its gradient in the Lie algebra at R (for tests against finite differences).

    Parameters
    ----------
    covs : ndarray, shape (n_trials, n_channels, n_channels)
    y : ndarray, shape (n_trials,)
    R : ndarray, shape (n_channels, n_channels)
        Orthogonal rotation in the whitened space.

    Returns
    -------
    J : float
    G : ndarray, shape (n_channels, n_channels)
        Skew-symmetric; ``d/dt J(expm(t M) R) at t=0 = <G, M>`` for skew ``M``.
    """
    value, grad = _Problem(covs[None], y, d, lam).value_and_parts(R[None], grad=True)
    assert grad is not None
    return float(value[0]), grad[0]


def _csp_rotation(problem: _Problem) -> np.ndarray:
    """CSP rotations (n, D, D): eigenvectors of the whitened class-1 mean, most extreme first."""
    evals, evecs = np.linalg.eigh(problem.trials[:, : problem.n0].mean(axis=1))
    order = np.argsort(-np.maximum(evals, 1.0 - evals), axis=-1, kind="stable")
    evecs = np.take_along_axis(evecs, order[:, None, :], axis=-1)
    return np.swapaxes(evecs, -1, -2)


def csp_filters(covs: np.ndarray, y: np.ndarray, d: int = 4) -> np.ndarray:
    """Classic CSP filters (the ``lambda = 0`` solution), most discriminative first.

    Returns
    -------
    ndarray, shape (n_channels, d)
    """
    problem = _Problem(covs[None], y, d, 0.0)
    return (_csp_rotation(problem)[0, :d] @ problem.P[0]).T


def _line_search(problem: _Problem, R: np.ndarray, J: np.ndarray, G: np.ndarray,
                 gnorm: np.ndarray, idx: np.ndarray, angle: np.ndarray):
    """Armijo backtracking along ``expm(t G) R`` for the problems ``idx``, each its own ``t``
    (starting at rotation ``angle``). Returns the final ``t``, which problems accepted a step,
    and their new rotations and objectives."""
    t = angle / gnorm[idx]
    accepted = np.zeros(len(idx), dtype=bool)
    R_new = R[idx].copy()
    J_new = J[idx].copy()
    searching = np.ones(len(idx), dtype=bool)
    for _ls in range(12):
        s = np.flatnonzero(searching)
        if s.size == 0:
            break
        cand = expm(t[s, None, None] * G[idx[s]]) @ R[idx[s]]
        j_cand, _ = problem.value_and_parts(cand, idx[s])
        ok = j_cand >= J[idx[s]] + 1e-4 * t[s] * gnorm[idx[s]] ** 2
        R_new[s[ok]], J_new[s[ok]] = cand[ok], j_cand[ok]
        accepted[s[ok]] = True
        searching[s[ok]] = False
        t[s[~ok]] *= 0.3
    return t, accepted, R_new, J_new


def divcsp_batch(
    covs: np.ndarray,
    y: np.ndarray,
    d: int = 4,
    lam: float = 0.1,
    max_iter: int = 30,
    tol: float = 1e-5,
    init: np.ndarray | None = None,
) -> list[DivCSPResult]:
    """Fit divCSP for a batch of problems that share trials' labels and channel count.

    Parameters
    ----------
    covs : ndarray, shape (n_problems, n_trials, n_channels, n_channels)
        Trial covariances of each problem (e.g. the time windows of one band and group).
    y : ndarray of int, shape (n_trials,)
        Two classes.
    d : int
        Subspace dimension (number of filters), at most n_channels.
    lam : float
        Intra-class regularisation weight lambda in [0, 1).
    max_iter : int
        Maximum accepted gradient steps per problem.
    tol : float
        A problem stops when a step improves its J by less than ``tol * max(1, |J|)``.
    init : ndarray, shape (n_problems, n_channels, n_channels), optional
        Initial rotations in the whitened space; default the CSP rotations.

    Returns
    -------
    list of DivCSPResult, one per problem
    """
    n_prob, _, n_ch, _ = covs.shape
    d = min(d, n_ch)
    problem = _Problem(covs, y, d, lam)
    R = _csp_rotation(problem) if init is None else np.array(init, dtype=float)
    J, G = problem.value_and_parts(R, grad=True)
    history = [[float(j)] for j in J]
    n_iter = np.zeros(n_prob, dtype=int)
    active = np.full(n_prob, lam > 0)
    angle = np.full(n_prob, 0.25)  # first trial step, as a rotation angle along the gradient
    for _ in range(max_iter):
        assert G is not None
        gnorm = np.sqrt(np.sum(G * G, axis=(1, 2)))
        active &= gnorm > 1e-10
        if not active.any():
            break
        # Armijo backtracking along the geodesics expm(t G) R, each problem its own t
        idx = np.flatnonzero(active)
        t, accepted, R_new, J_new = _line_search(problem, R, J, G, gnorm, idx, angle[idx])
        # problems with no ascent step are at a (local) maximum: they stop
        active[idx[~accepted]] = False
        upd = idx[accepted]
        if upd.size == 0:
            break
        improvement = J_new[accepted] - J[upd]
        R[upd] = R_new[accepted]
        J_upd, G_upd = problem.value_and_parts(R[upd], upd, grad=True)
        J[upd], G[upd] = J_upd, G_upd
        n_iter[upd] += 1
        for k, p in enumerate(upd):
            history[p].append(float(J_upd[k]))
        angle[upd] = np.minimum(1.0, 2.0 * t[accepted] * gnorm[upd])
        active[upd[improvement < tol * np.maximum(1.0, np.abs(J_upd))]] = False
    V = np.swapaxes(R[:, :d] @ problem.P, -1, -2)  # (n, n_channels, d)
    evals, E = np.linalg.eigh(np.swapaxes(V, -1, -2) @ problem.s1 @ V)
    order = np.argsort(-np.abs(evals - 0.5), axis=-1, kind="stable")
    W = V @ np.take_along_axis(E, order[:, None, :], axis=-1)
    return [DivCSPResult(filters=W[k], objective=history[k], n_iter=int(n_iter[k]))
            for k in range(n_prob)]


def divcsp(
    covs: np.ndarray,
    y: np.ndarray,
    d: int = 4,
    lam: float = 0.1,
    max_iter: int = 30,
    tol: float = 1e-5,
    init: np.ndarray | None = None,
) -> DivCSPResult:
    """Fit divCSP spatial filters from the trial covariances of one segment.

    Parameters
    ----------
    covs : ndarray, shape (n_trials, n_channels, n_channels)
        Trial covariances (one band, window and electrode group).
    y : ndarray of int, shape (n_trials,)

    Other parameters are those of :func:`divcsp_batch`.

    Returns
    -------
    DivCSPResult
    """
    return divcsp_batch(covs[None], y, d=d, lam=lam, max_iter=max_iter, tol=tol,
                        init=None if init is None else np.asarray(init)[None])[0]


class DivCSP(TransformerMixin, BaseEstimator):
    """divCSP spatial filters as a scikit-learn transformer: covariances in, normalised
    log-variance features out (Liu et al. 2025, eq. 2).

    Two classes fit one set of filters; N > 2 classes fit one set per class against the rest
    (one-vs-rest), and the features of the N sets are concatenated.

    Parameters
    ----------
    n_filters : int
        Subspace dimension d (at most n_channels).
    lam : float
        Intra-class regularisation weight lambda in [0, 1).
    max_iter : int
    tol : float
        See :func:`divcsp_batch`.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    filters_ : ndarray, shape (n_sets, n_channels, d)
        One filter set for two classes, else one per class (that class against the rest).
    objective_ : list of list of float
        J after every accepted step, per filter set.
    """

    def __init__(self, n_filters: int = 4, lam: float = 0.1, max_iter: int = 30,
                 tol: float = 1e-5):
        self.n_filters = n_filters
        self.lam = lam
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: np.ndarray, y: np.ndarray) -> DivCSP:
        """Fit the filters.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_channels, n_channels)
            Trial covariances (one band, window and electrode group).
        y : array-like, shape (n_trials,)
            At least two classes, any label values.
        """
        X = _check_covs(X)
        self.classes_, y_enc = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"divCSP needs at least two classes; y has {self.classes_}")
        heads = [y_enc] if len(self.classes_) == 2 else \
            [(y_enc == c).astype(np.int64) for c in range(len(self.classes_))]
        fits = [divcsp(X, yh, d=self.n_filters, lam=self.lam, max_iter=self.max_iter,
                       tol=self.tol) for yh in heads]
        self.filters_ = np.stack([f.filters for f in fits])
        self.objective_ = [f.objective for f in fits]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Normalised log-variance features, shape (n_trials, n_sets * d)."""
        check_is_fitted(self, "filters_")
        X = _check_covs(X)
        if X.shape[-1] != self.filters_.shape[1]:
            raise ValueError(f"covariances of {X.shape[-1]} channels; fitted on "
                             f"{self.filters_.shape[1]}")
        return np.concatenate([log_variance_features(X, W) for W in self.filters_], axis=1)


def _check_covs(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or X.shape[1] != X.shape[2]:
        raise ValueError(f"X has shape {X.shape}; expected covariance matrices (n_trials, "
                         "n_channels, n_channels)")
    return X
