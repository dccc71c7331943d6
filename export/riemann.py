"""Train the ``riemann`` decoder: tangent space + logistic regression, with cross-subject pools.

The features are the edge's (:mod:`edge.decoders.riemann`: band-pass, shrunk covariances,
re-centering of :mod:`edge.alignment`, tangent vectors); this module only chooses the
references and fits the logistic regression (scikit-learn), so the bundle decodes exactly what
was trained.

Cross-subject transfer (Riemannian alignment, Zanini et al. 2018): every other subject in
``pool`` is re-centered to its own Riemannian mean, the target's calibration trials to theirs,
so all share the identity as reference; one regression is fitted on all of them with sample
weights that give the target's trials ``target_weight`` of the total weight. Without target
trials (``fit`` on an empty set) the model is the pool's alone, its calibration whitener the
mean of the pool subjects' references: a prior until the runtime's online reference takes over.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from threadpoolctl import threadpool_limits

from edge.alignment import METRICS, reference_mean, whitener
from edge.decoders.riemann import RiemannModel, band_covariances
from edge.decoders.spec import DecoderSpec, WindowSpec
from edge.decoders.tangent import SHRINKAGES, tangent_vectors
from edge.filterbank import FILTER_ORDER, BandFilter, bandpass_sos
from export.bundle_writer import BundleWriter
from export.data import EpochSet, file_sha256

__all__ = ["RiemannClassifier", "write_riemann", "riemann_spec", "DEFAULT_BANDS"]

#: One mu+beta band.
DEFAULT_BANDS = ((8.0, 30.0),)

#: Pool entries whose re-centered covariances are kept (by content) between fits.
POOL_CACHE_SIZE = 128
_POOL_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _check_trials(X: np.ndarray, y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 3:
        raise ValueError(f"{what}: trials of shape {X.shape}, expected (n_trials, n_channels, "
                         "n_samples)")
    if y.shape != (len(X),):
        raise ValueError(f"{what}: {len(X)} trials but labels of shape {y.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what}: NaN or infinite samples")
    return X, y


class RiemannClassifier(ClassifierMixin, BaseEstimator):
    """Tangent-space logistic regression over one band or a small filter bank.

    Parameters
    ----------
    sfreq : float
    bands : sequence of (low, high)
        Band edges in Hz; the bands' tangent vectors are concatenated.
    shrinkage : {"oas", "lw"}
    C : float
        Inverse L2 strength of the logistic regression.
    align : bool
        Re-center every domain (the target's trials, each pool entry) to the identity.
    pool : sequence of (X, y), optional
        Other subjects' (or sessions') trials, each re-centered to its own mean.
    target_weight : float
        Share (0, 1] of the total sample weight given to the target's trials when pooling.
    metric : {"riemann", "euclid"}
        Mean used for the re-centering references (and the runtime's online reference).
    max_iter : int
        Logistic regression iterations.
    """

    def __init__(self, sfreq: float, bands: Sequence[Sequence[float]] = DEFAULT_BANDS,
                 shrinkage: str = "oas", C: float = 1.0, align: bool = True,
                 pool: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
                 target_weight: float = 0.5, metric: str = "riemann", max_iter: int = 2000):
        self.sfreq = sfreq
        self.bands = bands
        self.shrinkage = shrinkage
        self.C = C
        self.align = align
        self.pool = pool
        self.target_weight = target_weight
        self.metric = metric
        self.max_iter = max_iter

    def _filters(self) -> tuple[np.ndarray, np.ndarray, list[BandFilter]]:
        bands = np.asarray(self.bands, dtype=np.float64).reshape(-1, 2)
        if len(bands) == 0 or np.any(bands[:, 0] >= bands[:, 1]):
            raise ValueError(f"bands {self.bands}: expected (low, high) pairs, low < high")
        sos = np.stack([bandpass_sos(float(lo), float(hi), float(self.sfreq))
                        for lo, hi in bands])
        return bands, sos, [BandFilter.from_sos(s) for s in sos]

    def _whiteners(self, covs: np.ndarray) -> np.ndarray:
        """(n_bands, n, c, c) -> (n_bands, c, c): each band's re-centering (identity: none)."""
        c = covs.shape[-1]
        if not self.align:
            return np.stack([np.eye(c)] * len(covs))
        return np.stack([whitener(reference_mean(cb, self.metric)) for cb in covs])

    def _check_params(self) -> None:
        if self.shrinkage not in SHRINKAGES:
            raise ValueError(f"shrinkage {self.shrinkage!r}: choose from {SHRINKAGES}")
        if self.metric not in METRICS:
            raise ValueError(f"metric {self.metric!r}: choose from {METRICS}")
        if not 0 < self.target_weight <= 1:
            raise ValueError(f"target_weight {self.target_weight}: expected in (0, 1]")

    def _recentered(self, covs: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
        """The target's covariances re-centered as one domain, or per group (run/session)."""
        if groups is None or not self.align:
            W = self._whiteners(covs)
            return W[:, None] @ covs @ W[:, None]
        out = np.empty_like(covs)
        for g in np.unique(groups):
            W = self._whiteners(covs[:, groups == g])
            out[:, groups == g] = W[:, None] @ covs[:, groups == g] @ W[:, None]
        return out

    def _pool_domain(self, Xp: np.ndarray, filters: list[BandFilter]
                     ) -> tuple[np.ndarray, np.ndarray]:
        """One pool entry's re-centered covariances and whiteners, remembered by content: the
        same other subjects are pooled again for every target and fold."""
        key = (hashlib.sha1(np.ascontiguousarray(Xp).view(np.uint8)).hexdigest(), Xp.shape,
               tuple(f.sos.tobytes() for f in filters), self.shrinkage, self.metric,
               bool(self.align))
        if key not in _POOL_CACHE:
            cp = band_covariances(Xp, filters, self.shrinkage)
            Wp = self._whiteners(cp)
            if len(_POOL_CACHE) >= POOL_CACHE_SIZE:
                _POOL_CACHE.pop(next(iter(_POOL_CACHE)))
            _POOL_CACHE[key] = (Wp[:, None] @ cp @ Wp[:, None], Wp)
        return _POOL_CACHE[key]

    def _domains(self, X: np.ndarray, y: np.ndarray, filters: list[BandFilter],
                 groups: np.ndarray | None = None):
        """Re-centered covariances, labels and sample weights of the target and the pool; the
        target's whiteners."""
        pool = [_check_trials(Xp, yp, f"pool entry {i}")
                for i, (Xp, yp) in enumerate(self.pool or [])]
        for i, (Xp, _) in enumerate(pool):
            if Xp.shape[1:] != X.shape[1:]:
                raise ValueError(f"pool entry {i}: trials of shape {Xp.shape[1:]}, the target's "
                                 f"are {X.shape[1:]} (same channels, rate and window needed)")
        covs, labels, weights, refs = [], [], [], []
        for Xp, yp in pool:
            cp, Wp = self._pool_domain(Xp, filters)
            refs.append(Wp)
            covs.append(cp)
            labels.append(yp)
        n_pool = sum(len(yp) for yp in labels)
        weights = [np.full(len(yp), (1.0 if len(X) == 0 else 1 - self.target_weight) / n_pool)
                   for yp in labels]
        if len(X):
            ct = band_covariances(X, filters, self.shrinkage)
            Wt = self._whiteners(ct)
            covs.append(self._recentered(ct, groups))
            labels.append(y)
            weights.append(np.full(len(y), (self.target_weight if n_pool else 1.0) / len(y)))
        elif self.align:  # no calibration: start from the pool's average reference
            Wt = np.stack([whitener(reference_mean(
                np.stack([np.linalg.inv(W[b] @ W[b]) for W in refs]), self.metric))
                for b in range(len(filters))])
        else:
            Wt = np.stack([np.eye(X.shape[1])] * len(filters))
        w = np.concatenate(weights)
        return np.concatenate(covs, axis=1), np.concatenate(labels), w * len(w) / w.sum(), Wt

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
            ) -> RiemannClassifier:
        """Fit on the target's trials ``X`` (n, c, t) and labels ``y`` (and the pool).

        ``X`` may hold no trial when a pool is given: a pool-only model. ``groups`` (n,): with
        ``align``, re-center the target's trials per group (run or session) for training, as
        the runtime's online reference re-centers each session; the stored calibration
        whitener is still that of all the trials.
        """
        # one BLAS thread: the fit is many small eigendecompositions, which multi-threaded
        # OpenBLAS ran 20-25x slower on two loaded cores (measured: 41 s against 1.6 s)
        with threadpool_limits(1):
            return self._fit(X, y, groups)

    def _fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None
             ) -> RiemannClassifier:
        from sklearn.linear_model import LogisticRegression

        t0 = time.perf_counter()
        self._check_params()
        X, y = _check_trials(X, y, "training trials")
        if len(X) == 0 and not self.pool:
            raise ValueError("no training trials and no pool")
        bands, sos, filters = self._filters()
        if groups is not None and np.shape(groups) != (len(X),):
            raise ValueError(f"groups of shape {np.shape(groups)} for {len(X)} trials")
        covs, labels, w, Wt = self._domains(X, y, filters, groups)
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"training labels hold one class ({self.classes_.tolist()})")
        ref_isqrt = np.stack([whitener(reference_mean(cb, "riemann", weights=w))
                              for cb in covs])
        feats = np.hstack([tangent_vectors(covs[b], ref_isqrt[b]) for b in range(len(covs))])
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
        lr.fit(feats, np.searchsorted(self.classes_, labels), sample_weight=w)
        self.model_ = RiemannModel(float(self.sfreq), int(X.shape[-1] if len(X) else
                                                          self.pool[0][0].shape[-1]),
                                   bands, sos, Wt, ref_isqrt, lr.coef_, lr.intercept_,
                                   self.shrinkage, self.metric)
        self.n_train_ = {"target": int(len(X)), "pool": int(len(labels) - len(X)),
                         "pool_domains": len(self.pool or [])}
        self.seconds_ = time.perf_counter() - t0
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, c, t) -> (n, n_classes), columns in the order of ``classes_``."""
        return self.model_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def riemann_spec(clf: RiemannClassifier, member: str, ep: EpochSet,
                 adapt_horizon_s: float = 0.0, pool_subjects: Sequence[str] = ()) -> DecoderSpec:
    """The manifest spec of a trained riemann decoder stored in the ``.npz`` member."""
    model = clf.model_
    params = {
        "bands_hz": model.bands.tolist(),
        "shrinkage": clf.shrinkage,
        "lr_C": clf.C,
        "align": bool(clf.align),
        "metric": clf.metric,
        "pool_subjects": list(pool_subjects),
        "target_weight": clf.target_weight if clf.pool else 1.0,
        "n_train": clf.n_train_,
        "adapt_horizon_s": float(adapt_horizon_s),
    }
    return DecoderSpec(
        kind="riemann", members=(member,), arrays=member,
        window=WindowSpec(ep.tmin, ep.tmax, ep.n_samples),
        preprocessing={
            "band_filter": f"Butterworth order {FILTER_ORDER}, zero-phase (sosfiltfilt), per "
                           "window and band",
            "covariance": f"{clf.shrinkage.upper()}-shrunk spatial covariance",
            "recentering": "W C W' with the calibration (or online) reference ^ -1/2"
                           if clf.align else "none",
            "feature": "tangent vector at the training reference (upper triangle of logm)",
        },
        params=params)


def write_riemann(bundle: str | Path, name: str, clf: RiemannClassifier, ep: EpochSet,
                  sign_key=None, adapt_horizon_s: float = 0.0,
                  pool_subjects: Sequence[str] = (), operating_point: dict | None = None
                  ) -> Path:
    """Add the trained decoder to a (new or existing) bundle; ``adapt_horizon_s`` is the
    runtime's default online-adaptation horizon (0: off). Returns the bundle path."""
    if clf.model_.n_classes != len(ep.class_names):
        raise ValueError(f"decoder of {clf.model_.n_classes} classes, epochs name "
                         f"{ep.class_names}")
    writer = BundleWriter(bundle, ep.class_names, ep.ch_names, ep.sfreq,
                          rest_class=ep.rest_class)
    member = writer.add_arrays(f"{name}.npz", clf.model_.to_arrays())
    spec = riemann_spec(clf, member, ep, adapt_horizon_s, pool_subjects).to_dict()
    if operating_point is not None:
        spec["operating_point"] = operating_point
    writer.add_decoder(name, spec, {
        "inputs": [{"file": p.name, "sha256": file_sha256(p)} for p in ep.sources],
        "subjects": ep.subjects, "pool_subjects": list(pool_subjects),
        "runs": sorted(int(r) for r in np.unique(ep.runs)), "n_trials": int(len(ep.y)),
        "class_counts": np.bincount(ep.y, minlength=len(ep.class_names)).tolist(),
        "training_seconds": round(clf.seconds_, 3)})
    return writer.close(sign_key=sign_key)
