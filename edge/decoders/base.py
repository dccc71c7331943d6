"""The decoder contract and the registry of decoder kinds.

Every decoder named in a bundle is built by :func:`load_decoder` from its ``kind`` and keeps the
scikit-learn convention (:class:`Decoder`): ``predict_proba(X)`` takes a batch of windows
``(n_windows, n_channels, n_samples)`` and returns ``(n_windows, n_classes)``; ``classes_`` names
the columns. One window is decoded as ``decoder.predict_proba(window[None])[0]``. Windows carry
the bundle's channels in the bundle's order at the bundle's rate.

A decoder may also stream (issue 15: the causal FGSFT): ``open_stream()`` returns an object with
``push(samples)`` (each chunk as it arrives, (n_channels, n_new)), ``reset()`` (a gap) and
``predict_proba()`` (the newest window, (n_classes,)), or None; ``warmup_samples`` says how long
its filters must have run before a window is decoded as at training time. The runtime loop uses
both when present (:mod:`edge.loop`); ``predict_proba`` on windows keeps working for every
decoder.

A decoder may also adapt to the wearer without labels (issue 13: the ``riemann`` kind re-centers
its covariances to a running mean of the recent windows): ``set_adaptation(horizon_s, hop_s)``
(called by the runtime before the first window: ``horizon_s`` None for the bundle's default, 0
for off; windows come every ``hop_s``) and ``reset_adaptation()`` (called by the runtime on every
fault and every gap in the data, where the evidence restarts: the cap may have moved). With
adaptation on, ``predict_proba`` folds each window into the reference in order before decoding
it; without ``set_adaptation`` it is a pure function of the windows.

Decoder modules register their class with :func:`register_kind`; ``edge.decoders`` imports them
so that they do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from edge.bundle import Bundle
from edge.decoders.spec import DecoderSpec
from edge.errors import BundleError, InputError

__all__ = ["decoder_spec", "Decoder", "check_window", "load_decoder", "register_kind", "kinds"]


class Decoder(Protocol):
    """What the runtime, the replay and the evaluation need of a decoder."""

    name: str
    kind: str
    classes_: list[str]
    n_channels: int
    n_samples: int
    tmin: float  # window start relative to the cue at training time, s

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, ``(n_windows, n_channels, n_samples) -> (n_windows,
        n_classes)``."""
        ...


def check_window(X: np.ndarray, n_channels: int, n_samples: int, name: str) -> np.ndarray:
    """Validate a batch of windows ``(n, n_channels, n_samples)``; returns float64.

    Raises
    ------
    InputError
        If ``X`` is not 3-D (a single 2-D window included), has other trailing dimensions, or
        contains NaN or infinite samples.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        hint = "; for one window pass window[None]" if X.ndim == 2 else ""
        raise InputError(
            f"decoder {name}: input shape {X.shape}, expected a batch (n_windows, {n_channels} "
            f"channels, {n_samples} samples){hint}"
        )
    if X.shape[1:] != (n_channels, n_samples):
        raise InputError(
            f"decoder {name}: input shape {X.shape}, expected (n_windows, {n_channels} channels, "
            f"{n_samples} samples)"
        )
    if not np.all(np.isfinite(X)):
        raise InputError(f"decoder {name}: window contains NaN or infinite samples")
    return X

_KINDS: dict[str, Callable[[Bundle, str, DecoderSpec], Decoder]] = {}


def register_kind(kind: str):
    """Class decorator registering ``cls.from_bundle(bundle, name, spec)`` for ``kind``."""

    def deco(cls):
        _KINDS[kind] = cls.from_bundle
        return cls

    return deco


def kinds() -> list[str]:
    """The decoder kinds this runtime can build."""
    return sorted(_KINDS)


def decoder_spec(bundle: Bundle, name: str) -> DecoderSpec:
    """The typed spec of decoder ``name`` of a verified bundle (BundleError if incomplete)."""
    return DecoderSpec.from_dict(bundle.decoder_spec(name), f"{bundle.path}: decoder {name}")


def load_decoder(bundle: Bundle, name: str) -> Decoder:
    """Build the decoder ``name`` of a verified bundle.

    Raises
    ------
    BundleError
        If the decoder's spec is incomplete or its kind unknown to this runtime.
    """
    spec = decoder_spec(bundle, name)
    if spec.kind not in _KINDS:
        raise BundleError(
            f"{bundle.path}: decoder {name}: unknown kind {spec.kind!r} (this runtime knows "
            f"{', '.join(kinds())}); upgrade mi-edge"
        )
    return _KINDS[spec.kind](bundle, name, spec)
