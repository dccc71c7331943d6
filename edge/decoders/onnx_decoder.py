"""Neural decoders run by ONNX Runtime (kind ``onnx``): STFF-DA fp32 and int8.

A window (channels x samples, µV, the bundle's channels at its rate) goes through the bundle's
:class:`edge.preprocessing.Preprocessing` (the very code the exporter trained with) and then
through the ONNX model, which returns class probabilities. No torch, no scikit-learn.

The spec of such a decoder in the manifest::

    {"kind": "onnx", "members": ["stffda_int8.onnx"], "model": "stffda_int8.onnx",
     "window": {"tmin": 0.5, "tmax": 2.5, "n_samples": 320},
     "preprocessing": {"low": 0.5, "high": 40.0, "sfreq": 160.0, "scale": 11.9, ...},
     "input": {"name": "eeg", "shape": [1, 64, 320], "dtype": "float32", ...},
     "output": {"name": "proba", "shape": [1, 2], "meaning": "softmax probabilities"},
     "quantization": {...}, "fp32_vs_int8": {...}, "params": {...}}

Threads: one by default (the Pi runs acquisition beside the decoder); pass ``threads`` to
:meth:`OnnxDecoder.from_bundle` or set ``MI_EDGE_DECODER_THREADS``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edge.bundle import Bundle
from edge.decoders import check_window, register_kind
from edge.errors import BundleError
from edge.preprocessing import Preprocessing

__all__ = ["NeuralDecoder", "OnnxDecoder", "default_threads"]


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


class NeuralDecoder:
    """What the ONNX and TFLite decoders share: spec parsing, preprocessing, the interface.

    Subclasses implement ``_run(x)`` for one preprocessed float32 window (C, T) -> (n_classes,).
    """

    kind = "neural"

    def __init__(self, name: str, classes: list[str], prep: Preprocessing, n_channels: int,
                 n_samples: int, tmin: float):
        self.name = name
        self.classes = list(classes)
        self.prep = prep
        self.n_channels = n_channels
        self.n_samples = n_samples
        self.tmin = tmin

    @staticmethod
    def _parse(bundle: Bundle, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        try:
            window = spec["window"]
            member = spec.get("model") or spec["members"][0]
            prep = Preprocessing.from_dict(spec["preprocessing"])
            n_samples = int(window["n_samples"])
            tmin = float(window["tmin"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BundleError(f"{bundle.path}: decoder {name}: incomplete spec ({exc!r}); "
                              "expected model/members, window, preprocessing") from exc
        if not np.isclose(prep.sfreq, bundle.sfreq):
            raise BundleError(f"{bundle.path}: decoder {name}: preprocessing at {prep.sfreq} Hz, "
                              f"bundle at {bundle.sfreq} Hz")
        return {"path": bundle.member_bytes(member), "prep": prep, "n_samples": n_samples,
                "tmin": tmin, "n_channels": len(bundle.channels), "classes": bundle.classes}

    def _run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_proba(self, window: np.ndarray) -> np.ndarray:
        """Class probabilities of one window.

        Parameters
        ----------
        window : ndarray, shape (n_channels, n_samples)
            EEG in µV.

        Returns
        -------
        ndarray, shape (n_classes,)
        """
        x = check_window(window, self.n_channels, self.n_samples, self.name)
        if x.ndim != 2:
            return self.predict_proba_batch(x)
        return self._run(self.prep(x))

    def predict_proba_batch(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities of windows, shape (n_windows, n_classes) (one run per window:
        the exported models have a fixed batch of 1, as BrainFlow requires)."""
        X = check_window(X, self.n_channels, self.n_samples, self.name)
        if X.ndim == 2:
            X = X[None]
        Z = self.prep(X)
        return np.stack([self._run(z) for z in Z]) if len(Z) else np.zeros((0, len(self.classes)))


@register_kind("onnx")
class OnnxDecoder(NeuralDecoder):
    """An ONNX model (fp32 or int8) in ONNX Runtime's CPU provider."""

    kind = "onnx"

    def __init__(self, name: str, classes: list[str], prep: Preprocessing, n_channels: int,
                 n_samples: int, tmin: float, model: bytes | str, threads: int = 1):
        super().__init__(name, classes, prep, n_channels, n_samples, tmin)
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BundleError(f"decoder {name}: ONNX Runtime cannot load the model ({exc})") \
                from exc
        inp = self.session.get_inputs()[0]
        if [d for d in inp.shape[1:]] != [n_channels, n_samples]:
            raise BundleError(f"decoder {name}: model input {inp.shape}, the bundle's window is "
                              f"({n_channels}, {n_samples})")
        self.input_name = inp.name
        self.threads = int(threads)

    @classmethod
    def from_bundle(cls, bundle: Bundle, name: str, spec: dict[str, Any],
                    threads: int | None = None) -> OnnxDecoder:
        p = cls._parse(bundle, name, spec)
        return cls(name, p["classes"], p["prep"], p["n_channels"], p["n_samples"], p["tmin"],
                   p["path"], threads=threads or default_threads())

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: x[None]})[0]
        return np.asarray(out[0], dtype=np.float64)
