"""Edge decoders: each turns one window (channels x samples) into class probabilities.

Every decoder named in a bundle is built by :func:`load_decoder` from its ``kind`` and offers the
same interface (:class:`Decoder`): ``predict_proba(window)`` for one window of shape
``(n_channels, n_samples)`` and ``predict_proba_batch(X)`` for ``(n_windows, n_channels,
n_samples)``. Windows carry the bundle's channels in the bundle's order at the bundle's rate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from edge.bundle import Bundle
from edge.errors import BundleError, InputError

__all__ = ["Decoder", "load_decoder", "register_kind", "check_window"]


class Decoder(Protocol):
    name: str
    kind: str
    classes: list[str]
    n_channels: int
    n_samples: int
    tmin: float  # window start relative to the cue at training time, s

    def predict_proba(self, window: np.ndarray) -> np.ndarray: ...

    def predict_proba_batch(self, X: np.ndarray) -> np.ndarray: ...


def check_window(X: np.ndarray, n_channels: int, n_samples: int, name: str) -> np.ndarray:
    """Validate the trailing (channels, samples) shape and finiteness; returns float64."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim not in (2, 3) or X.shape[-2:] != (n_channels, n_samples):
        raise InputError(
            f"decoder {name}: window shape {X.shape}, expected (..., {n_channels} channels, "
            f"{n_samples} samples)"
        )
    if not np.all(np.isfinite(X)):
        raise InputError(f"decoder {name}: window contains NaN or infinite samples")
    return X


_KINDS: dict[str, Callable[[Bundle, str, dict[str, Any]], Decoder]] = {}


def register_kind(kind: str):
    """Class decorator registering a decoder constructor ``cls.from_bundle`` for ``kind``."""

    def deco(cls):
        _KINDS[kind] = cls.from_bundle
        return cls

    return deco


def load_decoder(bundle: Bundle, name: str) -> Decoder:
    """Build the decoder ``name`` of a verified bundle."""
    spec = bundle.decoder_spec(name)
    kind = spec.get("kind")
    _import_kinds()
    if kind not in _KINDS:
        raise BundleError(
            f"{bundle.path}: decoder {name}: unknown kind {kind!r} (this runtime knows "
            f"{', '.join(sorted(_KINDS))}); upgrade mi-edge"
        )
    return _KINDS[kind](bundle, name, spec)


def _import_kinds() -> None:
    # decoder modules register themselves on import
    from edge.decoders import fgsft, onnx_decoder  # noqa: F401
    try:  # imports no interpreter until a TFLite decoder is built; fail soft regardless
        from edge.decoders import tflite_decoder  # noqa: F401
    except ImportError:
        pass
