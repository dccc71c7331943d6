"""What the ONNX and TFLite decoders share: spec parsing, preprocessing, the batch interface.

A window (channels x samples, µV, the bundle's channels at its rate) goes through the bundle's
:class:`edge.preprocessing.Preprocessing` (the very code the exporter trained with) and then
through the model, which returns class probabilities. The exported models have a fixed batch of
1 (as BrainFlow requires), so a batch runs window by window.

Threads: one by default (the Pi runs acquisition beside the decoder); pass ``threads`` to
``from_bundle`` or set ``MI_EDGE_DECODER_THREADS``.

**Euclidean alignment.** A net trained on aligned windows (``mi-export ... --align``) has an
``alignment`` entry in its spec with the whitener ``W = R^-1/2`` of its calibration windows; the
decoder multiplies every preprocessed window by ``W`` before the model (:mod:`edge.alignment`,
the same code the exporter trained with). With online adaptation (the optional seam of the
decoder contract, as the ``riemann`` kind: :meth:`NeuralDecoder.set_adaptation`, the bundle's
default ``params.adapt_horizon_s``), the whitener follows an
:class:`edge.alignment.OnlineReference` of the wearer's recent windows (arithmetic mean of
their covariances, no labels) once it is ready, and the calibration whitener before that and
after every :meth:`NeuralDecoder.reset_adaptation` (a fault or a gap).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from edge.alignment import OnlineReference, euclidean_align, trial_covariances
from edge.bundle import Bundle
from edge.decoders.base import check_window
from edge.decoders.spec import DecoderSpec
from edge.errors import BundleError
from edge.preprocessing import Preprocessing

__all__ = ["NeuralDecoder", "NeuralSpec", "default_threads"]


def default_threads() -> int:
    """Intra-op threads for neural decoders: ``MI_EDGE_DECODER_THREADS`` or 1."""
    raw = os.environ.get("MI_EDGE_DECODER_THREADS", "1")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise BundleError(f"MI_EDGE_DECODER_THREADS={raw!r}: expected a positive integer")
    return n


@dataclass(frozen=True)
class NeuralSpec:
    """A neural decoder's spec resolved against its bundle."""

    model: bytes  # the member's verified bytes (read once: what was hashed is what is loaded)
    prep: Preprocessing
    n_samples: int
    tmin: float
    n_channels: int
    classes: list[str]
    whitener: np.ndarray | None = None
    adapt_horizon_s: float = 0.0

    @property
    def alignment(self) -> dict[str, object]:
        """Keyword arguments of the decoders' constructors for the alignment."""
        return {"whitener": self.whitener, "adapt_horizon_s": self.adapt_horizon_s}

    @classmethod
    def resolve(cls, bundle: Bundle, name: str, spec: DecoderSpec) -> NeuralSpec:
        member = spec.model or (spec.members[0] if spec.members else None)
        if member is None:
            raise BundleError(f"{bundle.path}: decoder {name}: spec names no 'model' member")
        try:
            prep = Preprocessing.from_dict(spec.preprocessing)
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{bundle.path}: decoder {name}: incomplete 'preprocessing' "
                              f"({exc!r})") from exc
        if not np.isclose(prep.sfreq, bundle.sfreq):
            raise BundleError(f"{bundle.path}: decoder {name}: preprocessing at {prep.sfreq} Hz, "
                              f"bundle at {bundle.sfreq} Hz")
        w, horizon = _alignment(bundle, name, spec)
        return cls(bundle.member_bytes(member), prep, spec.window.n_samples, spec.window.tmin,
                   len(bundle.channels), bundle.classes, w, horizon)


def _alignment(bundle: Bundle, name: str, spec: DecoderSpec) -> tuple[np.ndarray | None, float]:
    """The spec's whitener (C x C, or None) and default adaptation horizon, checked."""
    where = f"{bundle.path}: decoder {name}"
    horizon = spec.params.get("adapt_horizon_s", 0.0)
    if not isinstance(horizon, int | float) or not np.isfinite(horizon) or horizon < 0:
        raise BundleError(f"{where}: adapt_horizon_s {horizon!r}")
    entry = spec.extra.get("alignment")
    if entry is None:
        return None, float(horizon)
    c = len(bundle.channels)
    try:
        w = np.asarray(entry["whitener"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{where}: malformed 'alignment' ({exc!r})") from exc
    if w.shape != (c, c) or not np.all(np.isfinite(w)):
        raise BundleError(f"{where}: alignment whitener of shape {w.shape}, expected finite "
                          f"({c}, {c})")
    return w, float(horizon)


class NeuralDecoder:
    """Base of the neural decoders.

    Subclasses implement ``_run(x)`` for one preprocessed float32 window (C, T) -> (n_classes,).
    """

    kind = "neural"

    def __init__(self, name: str, classes: list[str], prep: Preprocessing, n_channels: int,
                 n_samples: int, tmin: float, whitener: np.ndarray | None = None,
                 adapt_horizon_s: float = 0.0):
        self.name = name
        self.classes_ = list(classes)
        self.prep = prep
        self.n_channels = n_channels
        self.n_samples = n_samples
        self.tmin = tmin
        self.whitener = whitener  # Euclidean alignment of the calibration windows, or None
        self.adapt_horizon_s = float(adapt_horizon_s)  # the bundle's default, 0 = off
        self.adaptation: OnlineReference | None = None

    # -- the optional adaptation seam of the decoder contract (edge.decoders.base) ----------
    def set_adaptation(self, horizon_s: float | None, hop_s: float) -> None:
        """Follow the wearer's windows over ``horizon_s`` seconds (None: the bundle's default;
        0: off), a window every ``hop_s`` seconds. A net trained without alignment has no
        reference to adapt: nothing changes."""
        horizon = self.adapt_horizon_s if horizon_s is None else float(horizon_s)
        if horizon <= 0 or self.whitener is None:
            self.adaptation = None
            return
        self.adaptation = OnlineReference(self.n_channels, max(1.0, horizon / hop_s), "euclid")

    def reset_adaptation(self) -> None:
        """A fault or a gap: the reference starts afresh (the calibration one until ready)."""
        if self.adaptation is not None:
            self.adaptation.reset()

    def model_input(self, X: np.ndarray) -> np.ndarray:
        """What the model sees for windows (n, C, T) in µV: the preprocessed windows, times the
        whitener when the net was trained aligned (float32). With adaptation on, each window
        is folded into the online reference."""
        return self._aligned(self.prep(X))

    def _aligned(self, Z: np.ndarray) -> np.ndarray:
        """The preprocessed windows times the whitener (each window folded into the online
        reference first, in order, when adaptation is on)."""
        if self.whitener is None:
            return Z
        if self.adaptation is None:
            return euclidean_align(Z, self.whitener).astype(np.float32)
        out = np.empty_like(Z)
        for i, z in enumerate(Z):
            self.adaptation.update(trial_covariances(z[None])[0])
            w = self.adaptation.whitener if self.adaptation.ready else self.whitener
            out[i] = euclidean_align(z, w)
        return out

    @property
    def classes(self) -> list[str]:
        """The class names (``classes_``), as the runtime loop reads them."""
        return self.classes_

    def _run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_channels, n_samples)
            EEG in µV.

        Returns
        -------
        ndarray, shape (n_windows, n_classes)
        """
        X = check_window(X, self.n_channels, self.n_samples, self.name)
        Z = self.model_input(X)
        if not len(Z):
            return np.zeros((0, len(self.classes_)))
        return np.stack([self._run(z) for z in Z])
