"""FGSFT decoder (Liu et al. 2025, Algorithm 3) in numpy + scipy.

For each of the K ensemble members: extract its spatial-frequency-time segments from the window,
compute divCSP log-variance features with the stored filters, apply the linear SVM and its Platt
sigmoid; the K class-1 probabilities are averaged.

N > 2 classes are one-vs-rest: each segment has one set of divCSP filters per class (that class
against the rest) and each member one SVM + Platt sigmoid per class ("heads"); a member's class
probabilities are its heads' Platt probabilities normalised to sum 1, and the K members'
probabilities are averaged. Two classes keep the single binary head.

The exporter's in-memory model is this very class (``export.fgsft`` builds it), so training-time
and edge-time probabilities come from one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.bundle import Bundle
from edge.decoders.base import check_window, register_kind
from edge.decoders.fgsft_fast import FGSFTPlan
from edge.decoders.fgsft_stream import FGSFTStream
from edge.decoders.spec import DecoderSpec
from edge.errors import BundleError
from edge.features import covariances, log_variance_features, sub_covariances
from edge.filterbank import BandFilter, band_filter

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
        divCSP spatial filters, ``n_heads * n_segments`` blocks, head-major: block
        ``h * n_segments + s`` filters segment ``s`` for head ``h``.
    members : list of ndarray of int
        Indices into ``segments`` whose features each ensemble member concatenates, in order.
    coefs : list of ndarray, shape (n_member_segments * d,)
        Linear SVM weights, ``n_members * n_heads`` vectors, member-major (``k * n_heads + h``).
    intercepts : ndarray, shape (n_members * n_heads,)
    platt : ndarray, shape (n_members * n_heads, 2)
        ``(a, b)`` of ``p(head class) = 1 / (1 + exp(-(a * decision + b)))``.
    n_classes : int
        2 (one binary head: class 1 against class 0) or N > 2 (N one-vs-rest heads).
    causal : bool
        False: bands filtered zero-phase within the window (the paper). True: filtered causally
        (forward only) over everything before the window too, so a stream can be filtered as it
        arrives (:mod:`edge.decoders.fgsft_stream`); the model takes windows of at least
        ``n_samples`` and analyses the last ``n_samples``.
    sos : ndarray, shape (n_bands, n_sections, 6), or None
        Each band's Butterworth sections (written by the exporter so the runtime does not need
        ``scipy.signal`` to design them); None: designed on load.
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
    n_classes: int = 2
    causal: bool = False
    sos: np.ndarray | None = None

    @property
    def n_heads(self) -> int:
        """Binary classifiers per member: 1 for two classes, else one per class."""
        return 1 if self.n_classes == 2 else self.n_classes

    # -- features -------------------------------------------------------------------------
    def segment_features(self, X: np.ndarray) -> np.ndarray:
        """divCSP features of every used segment, for every head.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_channels, n_samples)

        Returns
        -------
        ndarray, shape (n_trials, n_heads, n_segments, d)
        """
        n_seg, heads = len(self.segments), range(self.n_heads)
        d = max((f.shape[1] for f in self.filters), default=0)
        # groups smaller than d get fewer filters; their missing features stay 0
        out = np.zeros((X.shape[0], self.n_heads, n_seg, d))
        filters, offset = self.band_filters(), X.shape[-1] - self.n_samples
        for band, rows, local in self._plan():
            # only the channels this band's segments use are filtered (rows are independent)
            if self.causal:
                x = X[:, rows]
                xf = filters[band].causal(x.reshape(-1, x.shape[-1]))[0].reshape(x.shape)
            else:
                xf = filters[band].zero_phase(X[:, rows])
            for win, segs in local:
                start, stop = self.windows[win] + offset
                cov = covariances(xf[..., start:stop])
                for s, chans in segs:
                    sub = sub_covariances(cov, chans)
                    for h in heads:
                        W = self.filters[h * n_seg + s]
                        out[:, h, s, : W.shape[1]] = log_variance_features(sub, W)
        return out

    def band_filters(self) -> dict[int, BandFilter]:
        """The filter of every band the segments use: the stored sections, else designed."""
        cache = getattr(self, "_filters_cache", None)
        if cache is None:
            cache = {}
            for band in np.unique(self.segments[:, 1]):
                band = int(band)
                low, high = (float(v) for v in self.bands[band])
                cache[band] = (BandFilter.from_sos(self.sos[band]) if self.sos is not None
                               else band_filter(low, high, float(self.sfreq)))
            self._filters_cache = cache
        return cache

    def fast_plan(self) -> FGSFTPlan:
        """The runtime's compiled decode (:class:`edge.decoders.fgsft_fast.FGSFTPlan`)."""
        plan = getattr(self, "_fast_cache", None)
        if plan is None:
            plan = self._fast_cache = FGSFTPlan(self, self.band_filters())
        return plan

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
        """SVM decision values, shape (n_trials, n_members * n_heads), member-major.

        ``feats`` is :meth:`segment_features` output, (n_trials, n_heads, n_segments, d).
        """
        H = self.n_heads
        dec = np.empty((feats.shape[0], len(self.members) * H))
        for k, member in enumerate(self.members):
            for h in range(H):
                dec[:, k * H + h] = feats[:, h, member].reshape(feats.shape[0], -1) \
                    @ self.coefs[k * H + h]
                dec[:, k * H + h] += self.intercepts[k * H + h]
        return dec

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities: the mean of the members' Platt-calibrated probabilities.

        Parameters
        ----------
        X : ndarray, shape (n_trials, n_channels, n_samples)

        Returns
        -------
        ndarray, shape (n_trials, n_classes)
        """
        if len(X) == 0:
            return np.zeros((0, self.n_classes))
        return self.proba_from_decisions(self.fast_plan().decision_values(X))

    def proba_from_decisions(self, dec: np.ndarray) -> np.ndarray:
        """Platt probabilities of the members, averaged: (n, n_members * n_heads) decision
        values -> (n, n_classes)."""
        z = dec * self.platt[:, 0] + self.platt[:, 1]
        if self.n_classes == 2:
            p1 = np.mean(1.0 / (1.0 + np.exp(-z)), axis=1)
            return np.stack([1.0 - p1, p1], axis=1)
        p = 1.0 / (1.0 + np.exp(-z.reshape(len(z), len(self.members), self.n_heads)))
        return np.mean(p / p.sum(axis=2, keepdims=True), axis=1)

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
            "n_classes": np.array(self.n_classes, dtype=np.int64),
            "causal": np.array(int(self.causal), dtype=np.int64),
            **({} if self.sos is None else {"sos": np.asarray(self.sos, dtype=np.float64)}),
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> FGSFTModel:
        """Inverse of :meth:`to_arrays`; arrays without ``n_classes`` (written before FGSFT
        had more than two classes) are a binary model."""
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
            n_classes=int(a["n_classes"]) if "n_classes" in a else 2,
            causal=bool(int(a["causal"])) if "causal" in a else False,
            sos=a["sos"] if "sos" in a else None,
        )
        model.validate()
        return model

    def validate(self) -> None:
        """Check internal consistency; raises ValueError naming the inconsistent array."""
        n_seg, H = len(self.segments), self.n_heads
        if self.n_classes < 2:
            raise ValueError(f"n_classes {self.n_classes}: need at least 2")
        if self.segments.ndim != 2 or self.segments.shape[1] != 3:
            raise ValueError("segments must be (n, 3)")
        if len(self.filters) != n_seg * H:
            raise ValueError(f"{len(self.filters)} filter blocks for {n_seg} segments x {H} "
                             "heads")
        g, b, w = self.segments.T
        if g.max(initial=0) >= len(self.groups) or b.max(initial=0) >= len(self.bands) or \
                w.max(initial=0) >= len(self.windows):
            raise ValueError("segments index outside the group/band/window grid")
        if np.any(self.windows < 0) or np.any(self.windows > self.n_samples):
            raise ValueError("windows outside the input window")
        if self.sos is not None and (np.ndim(self.sos) != 3 or np.shape(self.sos)[0] !=
                                     len(self.bands) or np.shape(self.sos)[2] != 6):
            raise ValueError(f"sos of shape {np.shape(self.sos)}: expected ({len(self.bands)}, "
                             "n_sections, 6)")
        for s, (gi, *_rest) in enumerate(self.segments):
            if any(self.filters[h * n_seg + s].shape[0] != len(self.groups[gi]) for h in range(H)):
                raise ValueError(f"filters of segment {s} do not match its electrode group")
            if np.any(self.groups[gi] >= self.n_channels) or np.any(self.groups[gi] < 0):
                raise ValueError(f"electrode group {gi} indexes a channel outside the window")
        d = max((f.shape[1] for f in self.filters), default=0)
        n_clf = len(self.members) * H
        if not (len(self.coefs) == len(self.intercepts) == len(self.platt) == n_clf):
            raise ValueError("ensemble member arrays differ in length")
        for k, member in enumerate(self.members):
            if member.size == 0 or member.max() >= n_seg or member.min() < 0:
                raise ValueError(f"ensemble member {k} indexes an unknown segment")
            if any(len(self.coefs[k * H + h]) != len(member) * d for h in range(H)):
                raise ValueError(f"ensemble member {k}: weights do not match its "
                                 f"{len(member) * d} features")
        for what, arr in (("filter", self.filters), ("weight", self.coefs),
                          ("intercept", [self.intercepts]), ("calibration (Platt)", [self.platt]),
                          ("band edge", [self.bands]),
                          ("filter section", [] if self.sos is None else [self.sos])):
            if not all(np.all(np.isfinite(np.asarray(x, dtype=np.float64))) for x in arr):
                raise ValueError(f"non-finite {what}")


@register_kind("fgsft")
class FGSFTDecoder:
    """The FGSFT decoder of a bundle: input checks around :class:`FGSFTModel`."""

    kind = "fgsft"

    def __init__(self, name: str, model: FGSFTModel, classes: list[str], tmin: float,
                 warmup_s: float = 0.0):
        self.name = name
        self.model = model
        self.classes_ = list(classes)
        self.n_channels = model.n_channels
        self.n_samples = model.n_samples
        self.tmin = tmin
        #: causal models: samples the filters ran before a training window (the runtime waits
        #: as long after a start or gap before its first decision)
        self.warmup_samples = int(round(warmup_s * model.sfreq)) if model.causal else 0

    def open_stream(self) -> FGSFTStream | None:
        """A :class:`edge.decoders.fgsft_stream.FGSFTStream` for causal models, else None (the
        runtime then decodes each window with :meth:`predict_proba`)."""
        return FGSFTStream(self.model) if self.model.causal else None

    @property
    def classes(self) -> list[str]:
        """The class names (``classes_``), as the runtime loop reads them."""
        return self.classes_

    @classmethod
    def from_bundle(cls, bundle: Bundle, name: str, spec: DecoderSpec) -> FGSFTDecoder:
        member = spec.arrays
        if member is None:
            raise BundleError(f"{bundle.path}: decoder {name}: spec has no 'arrays' member")
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
        if model.n_classes != len(bundle.classes):
            raise BundleError(f"{bundle.path}: member {member}: {model.n_classes} classes, "
                              f"manifest lists {len(bundle.classes)}")
        warmup = spec.params.get("causal_lead_s", 0.0) if isinstance(spec.params, dict) else 0.0
        return cls(name, model, bundle.classes, spec.window.tmin, float(warmup))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, (n_windows, n_channels, n_samples) -> (n_windows, n_classes)."""
        X = check_window(X, self.n_channels, self.n_samples, self.name)
        return self.model.predict_proba(X)
