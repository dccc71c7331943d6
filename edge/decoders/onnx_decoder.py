"""Neural decoders run by ONNX Runtime (kind ``onnx``): STFF-DA, EEGNet, STAFNet, fp32 and int8.

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
:meth:`OnnxDecoder.from_bundle` or set ``MI_EDGE_DECODER_THREADS`` (see
:mod:`edge.decoders.neural`, which holds what ONNX and TFLite decoders share).
"""

from __future__ import annotations

import numpy as np

from edge.bundle import Bundle
from edge.decoders.base import register_kind
from edge.decoders.neural import NeuralDecoder, NeuralSpec, default_threads
from edge.decoders.spec import DecoderSpec
from edge.errors import BundleError
from edge.preprocessing import Preprocessing

__all__ = ["OnnxDecoder"]


@register_kind("onnx")
class OnnxDecoder(NeuralDecoder):
    """An ONNX model (fp32 or int8) in ONNX Runtime's CPU provider."""

    kind = "onnx"

    def __init__(self, name: str, classes: list[str], prep: Preprocessing, n_channels: int,
                 n_samples: int, tmin: float, model: bytes | str, threads: int = 1,
                 whitener: np.ndarray | None = None, adapt_horizon_s: float = 0.0):
        super().__init__(name, classes, prep, n_channels, n_samples, tmin, whitener,
                         adapt_horizon_s)
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
    def from_bundle(cls, bundle: Bundle, name: str, spec: DecoderSpec,
                    threads: int | None = None) -> OnnxDecoder:
        p = NeuralSpec.resolve(bundle, name, spec)
        return cls(name, p.classes, p.prep, p.n_channels, p.n_samples, p.tmin, p.model,
                   threads=threads or default_threads(), **p.alignment)

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: x[None]})[0]
        return np.asarray(out[0], dtype=np.float64)
