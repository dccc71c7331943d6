"""Riemannian decoder (kind ``riemann``): tangent space at a reference mean + logistic regression.

Per window and band ``b`` (one band, 8-30 Hz by default, or a small filter bank): a zero-phase
Butterworth band-pass (:mod:`edge.filterbank`), the shrunk spatial covariance ``C_b`` (OAS or
Ledoit-Wolf, :func:`edge.decoders.tangent.covariances`), re-centered with the wearer's whitener
``W_b`` (:mod:`edge.alignment`; the identity when the model was trained without alignment),
its tangent vector at the training reference (:func:`edge.decoders.tangent.tangent_vectors`)::

    v_b = upper(logm(R_b^-1/2 W_b C_b W_b^T R_b^-1/2)),   off-diagonal terms times sqrt(2)

the bands' vectors concatenated, and a logistic regression on them (binary: a sigmoid;
more classes: a softmax, as scikit-learn's). The exporter (:mod:`export.riemann`) trains on
these very functions, so the edge computes what was trained.

Online adaptation (optional, :meth:`RiemannDecoder.set_adaptation`): the whitener follows an
:class:`edge.alignment.OnlineReference` of the wearer's recent windows once it is ready
(before, and after every :meth:`RiemannDecoder.reset_adaptation`, the calibration whitener).
No label is used: the reference is the mean of whatever the wearer's windows are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.alignment import METRICS, OnlineReference, recenter
from edge.bundle import Bundle
from edge.decoders.base import check_window, register_kind
from edge.decoders.spec import DecoderSpec
from edge.decoders.tangent import SHRINKAGES, covariances, tangent_vectors
from edge.errors import BundleError
from edge.filterbank import BandFilter

__all__ = ["RiemannModel", "RiemannDecoder", "band_covariances"]


def band_covariances(X: np.ndarray, filters: list[BandFilter], shrinkage: str = "oas"
                     ) -> np.ndarray:
    """(n, c, t) windows -> (n_bands, n, c, c): shrunk covariances of each zero-phase band."""
    return np.stack([covariances(f.zero_phase(X), shrinkage) for f in filters])


@dataclass
class RiemannModel:
    """A trained Riemannian decoder's numbers (``.npz`` arrays of the bundle).

    Attributes
    ----------
    sfreq : float
    n_samples : int
    bands : ndarray, shape (n_bands, 2)
        Band edges, Hz.
    sos : ndarray, shape (n_bands, n_sections, 6)
        Each band's Butterworth sections.
    whiteners : ndarray, shape (n_bands, c, c)
        Re-centering of the wearer's covariances (calibration mean ^ -1/2; identity: none).
    ref_isqrt : ndarray, shape (n_bands, c, c)
        Tangent-space reference ^ -1/2 (of the re-centered training covariances).
    coef : ndarray, shape (n_heads, n_features)
        Logistic regression weights (one head for two classes, else one per class).
    intercept : ndarray, shape (n_heads,)
    shrinkage : str
        ``oas`` or ``lw``.
    metric : str
        Mean of the online reference, ``riemann`` or ``euclid``.
    """

    sfreq: float
    n_samples: int
    bands: np.ndarray
    sos: np.ndarray
    whiteners: np.ndarray
    ref_isqrt: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    shrinkage: str = "oas"
    metric: str = "riemann"

    def __post_init__(self) -> None:
        self.bands = np.asarray(self.bands, dtype=np.float64).reshape(-1, 2)
        self.sos = np.asarray(self.sos, dtype=np.float64)
        self.whiteners = np.asarray(self.whiteners, dtype=np.float64)
        self.ref_isqrt = np.asarray(self.ref_isqrt, dtype=np.float64)
        self.coef = np.atleast_2d(np.asarray(self.coef, dtype=np.float64))
        self.intercept = np.atleast_1d(np.asarray(self.intercept, dtype=np.float64))
        nb, c = len(self.bands), self.ref_isqrt.shape[-1]
        n_feat = nb * c * (c + 1) // 2
        if (self.sos.ndim != 3 or self.sos.shape[0] != nb or self.sos.shape[2] != 6
                or self.whiteners.shape != (nb, c, c) or self.ref_isqrt.shape != (nb, c, c)
                or self.coef.shape[1] != n_feat or self.intercept.shape != (len(self.coef),)):
            raise ValueError(f"riemann model: bands {self.bands.shape}, filters "
                             f"{self.sos.shape}, whiteners {self.whiteners.shape}, references "
                             f"{self.ref_isqrt.shape}, weights {self.coef.shape}, intercepts "
                             f"{self.intercept.shape} do not fit together")
        if self.shrinkage not in SHRINKAGES or self.metric not in METRICS:
            raise ValueError(f"riemann model: shrinkage {self.shrinkage!r}, metric "
                             f"{self.metric!r}")
        arrays = (self.sos, self.whiteners, self.ref_isqrt, self.coef, self.intercept)
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise ValueError("riemann model: non-finite parameters")
        self._filters = [BandFilter.from_sos(s) for s in self.sos]

    @property
    def n_channels(self) -> int:
        return int(self.ref_isqrt.shape[-1])

    @property
    def n_classes(self) -> int:
        return 2 if len(self.coef) == 1 else len(self.coef)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"sfreq": np.asarray(self.sfreq), "n_samples": np.asarray(self.n_samples),
                "bands": self.bands, "sos": self.sos, "whiteners": self.whiteners,
                "ref_isqrt": self.ref_isqrt, "coef": self.coef, "intercept": self.intercept,
                "shrinkage": np.asarray(SHRINKAGES.index(self.shrinkage)),
                "metric": np.asarray(METRICS.index(self.metric))}

    @classmethod
    def from_arrays(cls, a) -> RiemannModel:
        return cls(float(a["sfreq"]), int(a["n_samples"]), a["bands"], a["sos"],
                   a["whiteners"], a["ref_isqrt"], a["coef"], a["intercept"],
                   SHRINKAGES[int(a["shrinkage"])], METRICS[int(a["metric"])])

    def band_covariances(self, X: np.ndarray) -> np.ndarray:
        """(n, c, t) windows -> (n_bands, n, c, c) shrunk covariances of each band."""
        return band_covariances(X, self._filters, self.shrinkage)

    def features(self, covs: np.ndarray, whiteners: np.ndarray | None = None) -> np.ndarray:
        """(n_bands, n, c, c) covariances -> (n, n_features) tangent vectors, re-centered with
        ``whiteners`` (n_bands, c, c; default the calibration ones)."""
        W = self.whiteners if whiteners is None else whiteners
        return np.hstack([tangent_vectors(recenter(covs[b], W[b]), self.ref_isqrt[b])
                          for b in range(len(covs))])

    def proba(self, features: np.ndarray) -> np.ndarray:
        """Logistic regression: (n, n_features) -> (n, n_classes)."""
        z = features @ self.coef.T + self.intercept
        if len(self.coef) == 1:
            p1 = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -500.0, 500.0)))
            return np.column_stack([1.0 - p1, p1])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, c, t) -> (n, n_classes) with the calibration whiteners."""
        X = check_window(X, self.n_channels, self.n_samples, "riemann model")
        return self.proba(self.features(self.band_covariances(X)))


@register_kind("riemann")
class RiemannDecoder:
    """The edge's ``riemann`` decoder, with optional online re-centering (see the module)."""

    kind = "riemann"

    def __init__(self, name: str, model: RiemannModel, classes: list[str], tmin: float,
                 adapt_horizon_s: float = 0.0):
        self.name = name
        self.model = model
        self.classes_ = list(classes)
        self.n_channels = model.n_channels
        self.n_samples = model.n_samples
        self.tmin = tmin
        self.adapt_horizon_s = float(adapt_horizon_s)  # the bundle's default, 0 = off
        self.adaptation: list[OnlineReference] | None = None

    @property
    def classes(self) -> list[str]:
        return self.classes_

    @classmethod
    def from_bundle(cls, bundle: Bundle, name: str, spec: DecoderSpec) -> RiemannDecoder:
        if spec.arrays is None:
            raise BundleError(f"{bundle.path}: decoder {name}: spec has no 'arrays' member")
        try:
            model = RiemannModel.from_arrays(bundle.load_arrays(spec.arrays))
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise BundleError(f"{bundle.path}: member {spec.arrays}: inconsistent riemann "
                              f"arrays ({exc})") from exc
        if model.n_channels != len(bundle.channels) or model.n_classes != len(bundle.classes) \
                or not np.isclose(model.sfreq, bundle.sfreq) \
                or model.n_samples != spec.window.n_samples:
            raise BundleError(f"{bundle.path}: member {spec.arrays}: {model.n_channels} "
                              f"channels, {model.n_classes} classes, {model.sfreq:g} Hz, "
                              f"{model.n_samples} samples do not match the bundle")
        horizon = spec.params.get("adapt_horizon_s", 0.0)
        if not isinstance(horizon, int | float) or not np.isfinite(horizon) or horizon < 0:
            raise BundleError(f"{bundle.path}: decoder {name}: adapt_horizon_s {horizon!r}")
        return cls(name, model, bundle.classes, spec.window.tmin, float(horizon))

    # -- the optional adaptation seam of the decoder contract (edge.decoders.base) ----------
    def set_adaptation(self, horizon_s: float | None, hop_s: float) -> None:
        """Follow the wearer's windows over ``horizon_s`` seconds (None: the bundle's default;
        0: off, the calibration whitener only), a window every ``hop_s`` seconds."""
        horizon = self.adapt_horizon_s if horizon_s is None else float(horizon_s)
        if horizon <= 0:
            self.adaptation = None
            return
        windows = max(1.0, horizon / hop_s)
        self.adaptation = [OnlineReference(self.n_channels, windows, self.model.metric)
                           for _ in self.model.bands]

    def reset_adaptation(self) -> None:
        """A fault or a gap: the reference starts afresh (the calibration one until ready)."""
        for ref in self.adaptation or []:
            ref.reset()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n_windows, n_channels, n_samples) -> (n_windows, n_classes); with adaptation on,
        the windows are taken in order, each folded into the reference before it is decoded."""
        X = check_window(X, self.n_channels, self.n_samples, self.name)
        covs = self.model.band_covariances(X)
        if self.adaptation is None:
            return self.model.proba(self.model.features(covs))
        out = np.empty((len(X), self.model.n_classes))
        for i in range(len(X)):
            for ref, c in zip(self.adaptation, covs[:, i], strict=True):
                ref.update(c)
            W = np.stack([ref.whitener if ref.ready else w
                          for ref, w in zip(self.adaptation, self.model.whiteners, strict=True)])
            out[i] = self.model.proba(self.model.features(covs[:, i:i + 1], W))[0]
        return out
