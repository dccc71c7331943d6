"""Edge decoders: each turns a batch of windows into class probabilities.

The contract, the registry and the manifest spec live in :mod:`edge.decoders.base` and
:mod:`edge.decoders.spec`; this package re-exports them and imports the decoder kinds so that
they register. ``predict_proba(X)`` takes ``(n_windows, n_channels, n_samples)`` and returns
``(n_windows, n_classes)`` with columns named by ``classes_`` (scikit-learn's convention); one
window is ``decoder.predict_proba(window[None])[0]``.

The TFLite kind imports no interpreter until such a decoder is built, and is skipped if the
module itself cannot be imported.
"""

from __future__ import annotations

from edge.decoders import fgsft, gated, onnx_decoder, riemann  # noqa: F401  (register their kinds)
from edge.decoders.base import (
    Decoder,
    check_window,
    decoder_spec,
    kinds,
    load_decoder,
    register_kind,
)
from edge.decoders.spec import DecoderSpec, WindowSpec

try:
    from edge.decoders import tflite_decoder  # noqa: F401
except ImportError:  # pragma: no cover - fail soft: only TFLite bundles need it
    pass

__all__ = ["Decoder", "DecoderSpec", "WindowSpec", "check_window", "decoder_spec", "kinds",
           "load_decoder", "register_kind"]
