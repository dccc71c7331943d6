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

__all__ = ["DivCSPResult", "divcsp", "divcsp_objective", "csp_filters"]


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
    evals, evecs = np.linalg.eigh(s)
    evals = np.maximum(evals, evals[-1] * 1e-10)
    return (evecs / np.sqrt(evals)) @ evecs.T


class _Problem:
    """Whitened covariances and the objective/gradient of J at a rotation.

    Trials are stored sorted by class so that class means are slices; every evaluation is a few
    batched matrix products over all trials at once.
    """

    def __init__(self, covs: np.ndarray, y: np.ndarray, d: int, lam: float):
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"divCSP is binary; got {len(classes)} classes")
        order = np.argsort(y != classes[0], kind="stable")
        self.n0 = int(np.sum(y == classes[0]))
        s = [covs[y == c].mean(axis=0) for c in classes]
        self.P = _whitener(s[0] + s[1])
        self.trials = self.P @ covs[order] @ self.P  # (N, D, D), class 0 first
        self.cls = (y[order] != classes[0]).astype(np.intp)
        self.d = d
        self.lam = lam

    def _class_means(self, a: np.ndarray) -> np.ndarray:
        return np.stack([a[: self.n0].mean(axis=0), a[self.n0 :].mean(axis=0)])

    def value_and_parts(self, R: np.ndarray, grad: bool) -> tuple[float, np.ndarray | None]:
        d, lam = self.d, self.lam
        Rd = R[:d]
        Y = Rd @ self.trials  # (N, d, D): rows d of R S_i (whitened)
        B = Y @ Rd.T  # (N, d, d): B(S_i)
        Bm = self._class_means(B)  # B(S_c) = mean_i B(S_i), B is linear in S
        inv_m = np.linalg.inv(Bm)
        j_inter = 0.5 * (np.trace(inv_m[1] @ Bm[0]) + np.trace(inv_m[0] @ Bm[1])) - d
        J = (1.0 - lam) * j_inter
        if lam > 0:
            logdet_m = np.linalg.slogdet(Bm)[1]
            logdet_i = np.linalg.slogdet(B)[1]
            kl = 0.5 * (np.einsum("nij,nji->n", inv_m[self.cls], B) - logdet_i
                        + logdet_m[self.cls] - d)
            J -= 0.5 * lam * (kl[: self.n0].mean() + kl[self.n0 :].mean())
        if not grad:
            return float(J), None
        # A = sum_m Gamma_m (R S_m R')[:d, :] = (sum_m Gamma_m Y_m) R'
        Ym = self._class_means(Y)  # rows d of R S_c
        g1 = 0.5 * (inv_m[1] - inv_m[0] @ Bm[1] @ inv_m[0])
        g2 = 0.5 * (inv_m[0] - inv_m[1] @ Bm[0] @ inv_m[1])
        A = (1.0 - lam) * (g1 @ Ym[0] + g2 @ Ym[1])
        if lam > 0:
            # d/dB_i and d/dB_c of mean_i KL(B_i || B_c), per class
            gi = 0.5 * (inv_m[self.cls] - np.linalg.inv(B))  # (N, d, d)
            giY = self._class_means(np.matmul(gi, Y))  # (2, d, D)
            for c in (0, 1):
                gc = 0.5 * (inv_m[c] - inv_m[c] @ Bm[c] @ inv_m[c])
                A -= 0.5 * lam * (giY[c] + gc @ Ym[c])
        G = np.zeros((R.shape[0], R.shape[0]))
        G[:d] = A @ R.T
        return float(J), G - G.T


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
    value, grad = _Problem(covs, y, d, lam).value_and_parts(R, grad=True)
    assert grad is not None
    return value, grad


def _csp_rotation(problem: _Problem) -> np.ndarray:
    evals, evecs = np.linalg.eigh(problem.trials[: problem.n0].mean(axis=0))
    order = np.argsort(-np.maximum(evals, 1.0 - evals), kind="stable")
    return evecs[:, order].T


def csp_filters(covs: np.ndarray, y: np.ndarray, d: int = 4) -> np.ndarray:
    """Classic CSP filters (the ``lambda = 0`` solution), most discriminative first.

    Returns
    -------
    ndarray, shape (n_channels, d)
    """
    problem = _Problem(covs, y, d, 0.0)
    return (_csp_rotation(problem)[:d] @ problem.P).T


def divcsp(
    covs: np.ndarray,
    y: np.ndarray,
    d: int = 4,
    lam: float = 0.1,
    max_iter: int = 30,
    tol: float = 1e-5,
    init: np.ndarray | None = None,
) -> DivCSPResult:
    """Fit divCSP spatial filters from trial covariances.

    Parameters
    ----------
    covs : ndarray, shape (n_trials, n_channels, n_channels)
        Trial covariances (one band, window and electrode group).
    y : ndarray of int, shape (n_trials,)
        Two classes.
    d : int
        Subspace dimension (number of filters), at most n_channels.
    lam : float
        Intra-class regularisation weight lambda in [0, 1).
    max_iter : int
        Maximum accepted gradient steps.
    tol : float
        Stop when a step improves J by less than ``tol * max(1, |J|)``.
    init : ndarray, shape (n_channels, n_channels), optional
        Initial rotation in the whitened space; default the CSP rotation.

    Returns
    -------
    DivCSPResult
    """
    n_ch = covs.shape[-1]
    d = min(d, n_ch)
    problem = _Problem(covs, y, d, lam)
    R = _csp_rotation(problem) if init is None else np.array(init, dtype=float)
    J, G = problem.value_and_parts(R, grad=True)
    history = [J]
    angle = 0.25  # first trial step, as a rotation angle (radians) along the gradient
    n_iter = 0
    if lam > 0:
        for n_iter in range(1, max_iter + 1):  # noqa: B007
            assert G is not None
            gnorm = float(np.sqrt(np.sum(G * G)))
            if gnorm < 1e-10:
                break
            # Armijo backtracking along the geodesic expm(t G) R
            t = angle / gnorm
            for _ in range(12):
                R_new = expm(t * G) @ R
                J_new, _ = problem.value_and_parts(R_new, grad=False)
                if J_new >= J + 1e-4 * t * gnorm**2:
                    break
                t *= 0.3
            else:
                break  # no ascent step found: J is at a (local) maximum
            improvement = J_new - J
            R = R_new
            J, G = problem.value_and_parts(R, grad=True)
            history.append(J)
            angle = min(1.0, 2.0 * t * gnorm)
            if improvement < tol * max(1.0, abs(J)):
                break
    V = (R[:d] @ problem.P).T  # (n_channels, d)
    s1 = covs[y == np.unique(y)[0]].mean(axis=0)
    evals, E = np.linalg.eigh(V.T @ s1 @ V)
    order = np.argsort(-np.abs(evals - 0.5), kind="stable")
    return DivCSPResult(filters=V @ E[:, order], objective=history, n_iter=n_iter)
