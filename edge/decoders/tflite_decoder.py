"""Neural decoders run by a TFLite interpreter (kind ``tflite``): the nets through LiteRT.

The interpreter is ``tflite_runtime`` when installed and working (the classic Pi wheel),
otherwise ``ai_edge_litert`` (works with numpy 2 and on aarch64, SPEC section 4): tflite-runtime
2.14 imports under numpy 2 but fails when it builds an interpreter, and then LiteRT is used.
Neither is imported until a decoder of this kind is built, so the edge runs without them as long
as the bundle's decoder is not a TFLite one; asking for one then fails with an install hint.

The exported STFF-DA model (``dynamic_wi8_afp32``: int8 weights, float activations) has float32
input and output tensors. A model with int8 input/output tensors (full int8, ``static_wi8_ai8``)
also runs: the window is quantized with the input tensor's scale and zero point, and the output
dequantized with the output's. Either way the output is clipped to [0, 1] and renormalised
(int8 rounding can make probabilities sum to 1 ± 1/256).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import Bundle
from edge.decoders.base import register_kind
from edge.decoders.neural import NeuralDecoder, NeuralSpec, default_threads
from edge.decoders.spec import DecoderSpec
from edge.errors import BundleError, DecoderUnavailable
from edge.preprocessing import Preprocessing

__all__ = ["TFLiteDecoder", "TFLiteRunner", "interpreter_class", "interpreter_classes"]

log = logging.getLogger(__name__)


#: Interpreters in the order they are tried: the classic Pi wheel, then LiteRT.
INTERPRETERS = (("tflite_runtime", "tflite_runtime.interpreter"),
                ("ai_edge_litert", "ai_edge_litert.interpreter"))


def interpreter_classes() -> list[tuple[Any, str]]:
    """Every importable ``(Interpreter, package name)``, in :data:`INTERPRETERS` order; raises
    :class:`DecoderUnavailable` with the reasons when there is none."""
    found, errors = [], []
    for package, module in INTERPRETERS:
        try:
            found.append((__import__(module, fromlist=["Interpreter"]).Interpreter, package))
        except Exception as exc:  # ImportError, or numpy-ABI failures of the old wheel
            errors.append(f"{package}: {exc}")
    if not found:
        raise DecoderUnavailable("this decoder needs a TFLite interpreter: pip install "
                                 "ai-edge-litert (or tflite-runtime); " + "; ".join(errors))
    return found


def interpreter_class():
    """``(Interpreter, package name)`` of the first importable interpreter."""
    return interpreter_classes()[0]


class TFLiteRunner:
    """One TFLite model, fixed input (1, C, T): float32 window in, probabilities out."""

    def __init__(self, model: bytes | str | Path, threads: int = 1):
        kwargs: dict[str, Any] = {"num_threads": int(threads)}
        if isinstance(model, bytes | bytearray):
            kwargs["model_content"] = bytes(model)
        else:
            kwargs["model_path"] = str(model)
        # tflite-runtime 2.14 imports under numpy 2 but fails when the interpreter is built
        # ("_ARRAY_API not found"): a package that cannot build the model yields to the next
        errors = []
        for cls, package in interpreter_classes():
            try:
                self.it = cls(**kwargs)
                self.it.allocate_tensors()
            except Exception as exc:  # noqa: BLE001 - any failure of this interpreter
                errors.append(f"{package}: {exc}")
                continue
            self.package = package
            break
        else:
            raise BundleError("no TFLite interpreter could load the model: " + "; ".join(errors))
        if errors:
            log.warning("TFLite: %s; using %s", "; ".join(errors), self.package)
        self.inp = self.it.get_input_details()[0]
        self.out = self.it.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self.inp["shape"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of one preprocessed window (C, T) float32, shape (n_classes,)."""
        x = x[None]
        dtype = self.inp["dtype"]
        if dtype != np.float32:
            scale, zero = self.inp["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        self.it.set_tensor(self.inp["index"], x)
        self.it.invoke()
        y = self.it.get_tensor(self.out["index"])[0]
        if self.out["dtype"] != np.float32:
            scale, zero = self.out["quantization"]
            y = (y.astype(np.float64) - zero) * scale
        y = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
        total = y.sum()
        return y / total if total > 0 else np.full(y.shape, 1.0 / len(y))


@register_kind("tflite")
class TFLiteDecoder(NeuralDecoder):
    """A TFLite model (int8 weights) in tflite_runtime or ai_edge_litert."""

    kind = "tflite"

    def __init__(self, name: str, classes: list[str], prep: Preprocessing, n_channels: int,
                 n_samples: int, tmin: float, model: bytes | str | Path, threads: int = 1,
                 whitener: np.ndarray | None = None, adapt_horizon_s: float = 0.0):
        super().__init__(name, classes, prep, n_channels, n_samples, tmin, whitener,
                         adapt_horizon_s)
        self.runner = TFLiteRunner(model, threads)
        if self.runner.input_shape[1:] != (n_channels, n_samples):
            raise BundleError(f"decoder {name}: model input {self.runner.input_shape}, the "
                              f"bundle's window is ({n_channels}, {n_samples})")
        self.threads = int(threads)
        self.interpreter = self.runner.package

    @classmethod
    def from_bundle(cls, bundle: Bundle, name: str, spec: DecoderSpec,
                    threads: int | None = None) -> TFLiteDecoder:
        p = NeuralSpec.resolve(bundle, name, spec)
        return cls(name, p.classes, p.prep, p.n_channels, p.n_samples, p.tmin, p.model,
                   threads=threads or default_threads(), **p.alignment)

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.runner(x)
