"""What ``mi-edge check`` adds to the integrity checks of :mod:`edge.bundle`: the bundle must
*work*. A bundle with valid hashes can still crash or mislead the runtime (NaN coefficients, an
ONNX model with three outputs for two classes, probabilities that do not sum to one, class names
the serial link cannot carry); each of those is refused here, with exit code 3, before the
systemd unit starts ``run`` (which would die and be restarted forever).

Checks:

* classes: unique, non-empty, and a HELLO frame can carry them
  (:func:`firmware_bridge.frames.hello_body`);
* every decoder (or only the one that will run) is built and run on seeded test windows: its
  output must be ``(n_windows, n_classes)``, finite, in [0, 1], rows summing to 1; a decoder
  that adapts to the wearer (``set_adaptation``, :mod:`edge.decoders.base`) is run once more
  with adaptation on, each test window in turn becoming its reference.
"""

from __future__ import annotations

import numpy as np

from edge.bundle import Bundle
from edge.decoders import Decoder
from edge.errors import BundleError
from firmware_bridge.frames import FrameError, hello_body

__all__ = ["check_classes", "check_outputs", "TEST_WINDOWS"]

#: Test windows per decoder: seeded noise at EEG amplitude (tens of µV), plus a flat window.
TEST_WINDOWS = 4
#: How far from 1 a row of probabilities may sum (int8 models renormalise; float32 rounding).
SUM_TOLERANCE = 1e-3


def check_classes(bundle: Bundle) -> None:
    """Class names unique, non-empty and small enough for the serial link's HELLO."""
    classes = bundle.classes
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise BundleError(f"{bundle.path}: class name(s) {dup} appear twice; the device could "
                          "not tell the commands apart")
    try:
        hello_body(classes, 8.0, 250)
    except FrameError as exc:
        raise BundleError(f"{bundle.path}: the class names cannot go over the serial link "
                          f"({exc})") from None


def check_outputs(bundle: Bundle, decoder: Decoder) -> None:
    """Run ``decoder`` on seeded test windows; refuse anything but finite probabilities of the
    bundle's class count."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((TEST_WINDOWS, decoder.n_channels, decoder.n_samples)) * 20.0
    X[-1] = 0.0  # a flat window (electrodes off) must still give probabilities
    _check_probabilities(bundle, decoder, X)
    set_adaptation = getattr(decoder, "set_adaptation", None)
    if set_adaptation is not None:
        # a one-window horizon: each window becomes the reference, whatever it holds
        set_adaptation(1.0, 1.0)
        try:
            _check_probabilities(bundle, decoder, np.concatenate([X[:-1], X]), " (adapting)")
        finally:
            set_adaptation(0.0, 1.0)


def _check_probabilities(bundle: Bundle, decoder: Decoder, X: np.ndarray,
                         what: str = "") -> None:
    n_classes = len(bundle.classes)
    where = f"{bundle.path}: decoder {decoder.name}{what}"
    try:
        P = np.asarray(decoder.predict_proba(X), dtype=np.float64)
    except BundleError:
        raise
    except Exception as exc:  # noqa: BLE001 - any crash of the model is a refusal here
        raise BundleError(f"{where}: fails on a test window ({type(exc).__name__}: {exc})") \
            from None
    if P.shape != (len(X), n_classes):
        raise BundleError(f"{where}: outputs shape {P.shape[1:]} per window, the bundle has "
                          f"{n_classes} classes")
    if not np.all(np.isfinite(P)):
        raise BundleError(f"{where}: outputs NaN or infinite probabilities (non-finite "
                          "parameters?)")
    if np.any(P < -1e-9) or np.any(P > 1 + 1e-9) or \
            np.any(np.abs(P.sum(axis=1) - 1.0) > SUM_TOLERANCE):
        raise BundleError(f"{where}: outputs are not probabilities (range "
                          f"{P.min():.3g}..{P.max():.3g}, row sums "
                          f"{P.sum(axis=1).min():.3g}..{P.sum(axis=1).max():.3g})")
