"""TFLite int8 export through LiteRT (optional extra ``mi-edge[litert]``).

Path measured to work (SPEC section 4): ``litert_torch.convert`` turns the PyTorch net into an
fp32 ``.tflite`` without TensorFlow (the LSTM is lowered to fully connected and elementwise
ops), then ``ai_edge_quantizer`` applies its ``static_wi8_ai8`` recipe: int8 weights and int8
activations for every supported op, LSTM gates included, with activation ranges calibrated on
preprocessed training windows. The result runs in ``ai_edge_litert`` (and, for the ops it
knows, ``tflite_runtime``).

Input: ``args_0`` float32 (1, n_channels, n_samples); output: float32 (1, n_classes)
probabilities (quantize/dequantize at the model's edges are inside the file).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from export.stffda.model import ProbabilityHead, STFFDANet

__all__ = ["litert_available", "export_tflite_fp32", "quantize_tflite_int8", "run_tflite",
           "strip_tensor_names"]

log = logging.getLogger(__name__)
SIGNATURE = "serving_default"


def litert_available() -> str | None:
    """None when the converter and quantizer import, else why not (install hint)."""
    try:
        import ai_edge_quantizer  # noqa: F401
        import litert_torch  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install
        return (f"TFLite export needs the litert extra (pip install 'mi-edge[litert]'): "
                f"{type(exc).__name__}: {exc}")
    return None


@contextlib.contextmanager
def _quiet():
    """The converter prints its progress to stdout/stderr; keep the CLI's terminal clean."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield


def export_tflite_fp32(net: STFFDANet) -> bytes:
    """Convert the eval-mode net (with its softmax) to an fp32 TFLite flatbuffer."""
    import litert_torch

    cfg = net.cfg
    model = ProbabilityHead(net).eval()
    dummy = torch.zeros(1, cfg.n_channels, cfg.n_samples)
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        path = Path(tmp, "fp32.tflite")
        litert_torch.convert(model, (dummy,)).export(str(path))
        return strip_tensor_names(path.read_bytes())


def quantize_tflite_int8(fp32: bytes, calib: np.ndarray) -> bytes:
    """Full int8 (weights and activations) with ``ai_edge_quantizer``'s static recipe.

    Parameters
    ----------
    fp32 : bytes
        From :func:`export_tflite_fp32`.
    calib : ndarray, shape (n, n_channels, n_samples)
        Preprocessed training windows.
    """
    from ai_edge_quantizer import quantizer, recipe

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "fp32.tflite")
        src.write_bytes(fp32)
        qt = quantizer.Quantizer(str(src), recipe.static_wi8_ai8())
        name = _input_name(fp32)
        data = {SIGNATURE: [{name: w[None].astype(np.float32)} for w in calib]}
        with _quiet():
            result = qt.calibrate(data, num_threads=max(1, min(2, os.cpu_count() or 1)))
            q = qt.quantize(result, enable_progress_report=False)
        return strip_tensor_names(bytes(q.quantized_model))


def strip_tensor_names(model: bytes) -> bytes:
    """Replace the converter's long tensor names (module paths, ~50 kB here) by ``t<i>``.

    Signatures refer to tensors by index, so inputs/outputs keep working; the saving matters
    for a model whose int8 weights are only ~40 kB.
    """
    from ai_edge_litert.tools import flatbuffer_utils
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "m.tflite")
        path.write_bytes(model)
        obj = tfl_flatbuffer_utils.read_model(str(path))
    for sg in obj.subgraphs:
        for i, t in enumerate(sg.tensors):
            t.name = f"t{i}".encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def _interpreter(model: bytes, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model, num_threads=threads)
    it.allocate_tensors()
    return it


def _input_name(model: bytes) -> str:
    sig = _interpreter(model).get_signature_list()[SIGNATURE]
    return sig["inputs"][0]


def run_tflite(model: bytes, windows: np.ndarray) -> np.ndarray:
    """Probabilities of preprocessed windows, one at a time, single thread.

    Uses the edge decoder's own tensor I/O (:mod:`edge.decoders.tflite_decoder`), so int8
    inputs/outputs are (de)quantized exactly as on the device.
    """
    from edge.decoders.tflite_decoder import TFLiteRunner

    runner = TFLiteRunner(model, threads=1)
    return np.stack([runner(w) for w in windows]).astype(np.float64)
