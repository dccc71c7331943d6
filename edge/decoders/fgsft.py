"""FGSFT decoder (Liu et al. 2025, Algorithm 3) in numpy + scipy.

For each of the K ensemble members: extract its spatial-frequency-time segments from the window,
compute divCSP log-variance features with the stored filters, apply the linear SVM and its Platt
sigmoid; the K class-1 probabilities are averaged.

The exporter's in-memory model is this very class (``export.fgsft`` builds it), so training-time
and edge-time probabilities come from one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.bundle import Bundle
from edge.decoders import check_window, register_kind
from edge.errors import BundleError, InputError
from edge.features import covariances, log_variance_features, sub_covariances
from edge.filterbank import bandpass

__all__ = ["FGSFTModel", "FGSFTDecoder"]


def _flatten(parts: list[np.ndarray], dtype: type) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
    flat = np.concatenate([np.asarray(p, dtype=dtype) for p in parts]) if parts else np.zeros(0)
    return flat.astype(dtype), offsets


def _unflatten(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


@dataclass
class FGSFTModel:
    """A trained FGSFT ensemble restricted to the segments it uses.

    Attributes
    ----------
    sfreq : float
    n_channels, n_samples : int
        Shape of the window the model takes.
    bands : ndarray, shape (n_bands, 2)
        Band edges in Hz (the full grid; segments index into it).
    windows : ndarray of int, shape (n_windows, 2)
        ``[start, stop)`` samples within the window (the full grid).
    groups : list of ndarray of int
        Channel indices of each electrode group (the full grid).
    segments : ndarray of int, shape (n_segments, 3)
        ``(group, band, window)`` of each segment the ensemble uses.
    filters : list of ndarray, shape (n_group_channels, d)
        divCSP spatial filters of each segment.
    members : list of ndarray of int
        Indices into ``segments`` whose features each ensemble member concatenates, in order.
    coefs : list of ndarray, shape (n_member_segments * d,)
        Linear SVM weights of each member.
    intercepts : ndarray, shape (n_members,)
    platt : ndarray, shape (n_members, 2)
        ``(a, b)`` of ``p(class 1) = 1 / (1 + exp(-(a * decision + b)))``.
    """

    sfreq: float
    n_channels: int
    n_samples: int
    bands: np.ndarray
    windows: np.ndarray
    groups: list[np.ndarray]
    segments: np.ndarray
    filters: list[np.ndarray]
    members: list[np.ndarray]
    coefs: list[np.ndarray]
    intercepts: np.ndarray
    platt: np.ndarray

    # -- features -------------------------------------------------------------------------
    def segment_features(self, X: np.ndarray) -> np.ndarray:
        """divCSP features of every used segment.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_channels, n_samples) or (n_channels, n_samples)

        Returns
        -------
        ndarray, shape (n_trials, n_segments, d) (or (n_segments, d) for one window)
        """
        single = X.ndim == 2
        X3 = X[None] if single else X
        d = max((f.shape[1] for f in self.filters), default=0)
        # groups smaller than d get fewer filters; their missing features stay 0
        out = np.zeros((X3.shape[0], len(self.segments), d))
        for band, rows, local in self._plan():
            low, high = self.bands[band]
            # only the channels this band's segments use are filtered (rows are independent)
            xf = bandpass(X3[:, rows], low, high, self.sfreq)
            for win, segs in local:
                start, stop = self.windows[win]
                cov = covariances(xf[..., start:stop])
                for s, chans in segs:
                    out[:, s, : self.filters[s].shape[1]] = log_variance_features(
                        sub_covariances(cov, chans), self.filters[s])
        return out[0] if single else out

    def _plan(self):
        """Per band: the channel rows to filter, and per window the segments with their group's
        channels re-indexed into those rows. Computed once per model."""
        plan = getattr(self, "_plan_cache", None)
        if plan is None:
            plan = []
            for band in np.unique(self.segments[:, 1]):
                in_band = np.flatnonzero(self.segments[:, 1] == band)
                rows = np.unique(np.concatenate([self.groups[g] for g in
                                                 self.segments[in_band, 0]]))
                where = {int(c): i for i, c in enumerate(rows)}
                local = []
                for win in np.unique(self.segments[in_band, 2]):
                    segs = [(int(s), np.array([where[int(c)] for c in
                                               self.groups[self.segments[s, 0]]]))
                            for s in in_band[self.segments[in_band, 2] == win]]
                    local.append((int(win), segs))
                plan.append((int(band), rows, local))
            self._plan_cache = plan
        return plan

    # -- classification -------------------------------------------------------------------
    def decision_functions(self, feats: np.ndarray) -> np.ndarray:
        """SVM decision value of each member, shape (n_trials, n_members)."""
        dec = np.empty((feats.shape[0], len(self.members)))
        for k, member in enumerate(self.members):
            dec[:, k] = feats[:, member].reshape(feats.shape[0], -1) @ self.coefs[k]
            dec[:, k] += self.intercepts[k]
        return dec

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities: the mean of the members' Platt-calibrated probabilities.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_channels, n_samples) or (n_channels, n_samples)

        Returns
        -------
        ndarray, shape (n_trials, 2) (or (2,) for one window)
        """
        single = X.ndim == 2
        feats = self.segment_features(X[None] if single else X)
        z = self.decision_functions(feats) * self.platt[:, 0] + self.platt[:, 1]
        p1 = np.mean(1.0 / (1.0 + np.exp(-z)), axis=1)
        proba = np.stack([1.0 - p1, p1], axis=1)
        return proba[0] if single else proba

    # -- (de)serialisation: plain numeric arrays, no pickle --------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        group_flat, group_off = _flatten(self.groups, np.int64)
        member_flat, member_off = _flatten(self.members, np.int64)
        coef_flat, coef_off = _flatten(self.coefs, np.float64)
        d = max(f.shape[1] for f in self.filters)
        # pad small groups' filters with zero columns so they stack; zero filters are dropped
        # again on load (they carry no weight)
        padded = [np.pad(f, ((0, 0), (0, d - f.shape[1]))) for f in self.filters]
        widths = np.array([f.shape[1] for f in self.filters], dtype=np.int64)
        return {
            "shape": np.array([self.n_channels, self.n_samples, d], dtype=np.int64),
            "sfreq": np.array(self.sfreq, dtype=np.float64),
            "bands": np.asarray(self.bands, dtype=np.float64),
            "windows": np.asarray(self.windows, dtype=np.int64),
            "group_channels": group_flat,
            "group_offsets": group_off,
            "segments": np.asarray(self.segments, dtype=np.int64),
            "filters": np.concatenate(padded).astype(np.float64),
            "filter_offsets": np.cumsum([0] + [f.shape[0] for f in padded]).astype(np.int64),
            "filter_widths": widths,
            "member_segments": member_flat,
            "member_offsets": member_off,
            "coefs": coef_flat,
            "coef_offsets": coef_off,
            "intercepts": np.asarray(self.intercepts, dtype=np.float64),
            "platt": np.asarray(self.platt, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> FGSFTModel:
        n_channels, n_samples, _ = (int(v) for v in a["shape"])
        model = cls(
            sfreq=float(a["sfreq"]),
            n_channels=n_channels,
            n_samples=n_samples,
            bands=a["bands"],
            windows=a["windows"],
            groups=_unflatten(a["group_channels"], a["group_offsets"]),
            segments=a["segments"],
            filters=[f[:, :w] for f, w in zip(_unflatten(a["filters"], a["filter_offsets"]),
                                                a["filter_widths"], strict=True)],
            members=_unflatten(a["member_segments"], a["member_offsets"]),
            coefs=_unflatten(a["coefs"], a["coef_offsets"]),
            intercepts=a["intercepts"],
            platt=a["platt"],
        )
        model.validate()
        return model

    def validate(self) -> None:
        """Check internal consistency; raises ValueError naming the inconsistent array."""
        n_seg = len(self.segments)
        if self.segments.ndim != 2 or self.segments.shape[1] != 3:
            raise ValueError("segments must be (n, 3)")
        if len(self.filters) != n_seg:
            raise ValueError(f"{len(self.filters)} filter blocks for {n_seg} segments")
        g, b, w = self.segments.T
        if g.max(initial=0) >= len(self.groups) or b.max(initial=0) >= len(self.bands) or \
                w.max(initial=0) >= len(self.windows):
            raise ValueError("segments index outside the group/band/window grid")
        if np.any(self.windows < 0) or np.any(self.windows > self.n_samples):
            raise ValueError("windows outside the input window")
        for s, (gi, *_rest) in enumerate(self.segments):
            if self.filters[s].shape[0] != len(self.groups[gi]):
                raise ValueError(f"filters of segment {s} do not match its electrode group")
            if np.any(self.groups[gi] >= self.n_channels) or np.any(self.groups[gi] < 0):
                raise ValueError(f"electrode group {gi} indexes a channel outside the window")
        d = max((f.shape[1] for f in self.filters), default=0)
        if not (len(self.members) == len(self.coefs) == len(self.intercepts) == len(self.platt)):
            raise ValueError("ensemble member arrays differ in length")
        for k, member in enumerate(self.members):
            if member.size == 0 or member.max() >= n_seg or member.min() < 0:
                raise ValueError(f"ensemble member {k} indexes an unknown segment")
            if len(self.coefs[k]) != len(member) * d:
                raise ValueError(f"ensemble member {k}: {len(self.coefs[k])} weights for "
                                 f"{len(member) * d} features")
        for arr in (self.filters, self.coefs):
            if not all(np.all(np.isfinite(x)) for x in arr):
                raise ValueError("non-finite filter or weight")


@register_kind("fgsft")
class FGSFTDecoder:
    """The FGSFT decoder of a bundle: input checks around :class:`FGSFTModel`."""

    kind = "fgsft"

    def __init__(self, name: str, model: FGSFTModel, classes: list[str], tmin: float):
        self.name = name
        self.model = model
        self.classes = classes
        self.n_channels = model.n_channels
        self.n_samples = model.n_samples
        self.tmin = tmin

    @classmethod
    def from_bundle(cls, bundle: Bundle, name: str, spec: dict) -> FGSFTDecoder:
        member = spec["arrays"]
        try:
            model = FGSFTModel.from_arrays(bundle.load_arrays(member))
        except (KeyError, ValueError, TypeError) as exc:
            raise BundleError(f"{bundle.path}: member {member}: inconsistent FGSFT arrays "
                              f"({exc})") from exc
        if model.n_channels != len(bundle.channels):
            raise BundleError(f"{bundle.path}: member {member}: {model.n_channels} channels, "
                              f"manifest lists {len(bundle.channels)}")
        if not np.isclose(model.sfreq, bundle.sfreq):
            raise BundleError(f"{bundle.path}: member {member}: {model.sfreq} Hz, manifest says "
                              f"{bundle.sfreq} Hz")
        return cls(name, model, bundle.classes, float(spec["window"]["tmin"]))

    def predict_proba(self, window: np.ndarray) -> np.ndarray:
        """Probabilities for one window (n_channels, n_samples) -> (2,)."""
        X = check_window(window, self.n_channels, self.n_samples, self.name)
        if X.ndim != 2:
            raise InputError(f"decoder {self.name}: predict_proba takes one 2-D window")
        return self.model.predict_proba(X)

    def predict_proba_batch(self, X: np.ndarray) -> np.ndarray:
        """Probabilities for windows (n, n_channels, n_samples) -> (n, 2)."""
        X = check_window(X, self.n_channels, self.n_samples, self.name)
        return self.model.predict_proba(X if X.ndim == 3 else X[None])
