"""What the ONNX and TFLite decoders share: spec parsing, preprocessing, the batch interface.

A window (channels x samples, µV, the bundle's channels at its rate) goes through the bundle's
:class:`edge.preprocessing.Preprocessing` (the very code the exporter trained with) and then
through the model, which returns class probabilities. The exported models have a fixed batch of
1 (as BrainFlow requires), so a batch runs window by window.

Threads: one by default (the Pi runs acquisition beside the decoder); pass ``threads`` to
``from_bundle`` or set ``MI_EDGE_DECODER_THREADS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

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
        return cls(bundle.member_bytes(member), prep, spec.window.n_samples, spec.window.tmin,
                   len(bundle.channels), bundle.classes)


class NeuralDecoder:
    """Base of the neural decoders.

    Subclasses implement ``_run(x)`` for one preprocessed float32 window (C, T) -> (n_classes,).
    """

    kind = "neural"

    def __init__(self, name: str, classes: list[str], prep: Preprocessing, n_channels: int,
                 n_samples: int, tmin: float):
        self.name = name
        self.classes_ = list(classes)
        self.prep = prep
        self.n_channels = n_channels
        self.n_samples = n_samples
        self.tmin = tmin

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
        Z = self.prep(X)
        if not len(Z):
            return np.zeros((0, len(self.classes_)))
        return np.stack([self._run(z) for z in Z])
