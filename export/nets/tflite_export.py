"""TFLite int8 export through LiteRT (optional extra ``mi-edge[litert]``), for any registered net.

``litert_torch.convert`` turns the net's ``tflite_form`` (:mod:`export.nets.registry`; STFF-DA
unrolls its LSTM) with a softmax into an fp32 ``.tflite`` without TensorFlow;
``ai_edge_quantizer`` then applies one of :data:`TFLITE_SCHEMES`, and the flatbuffer is
compacted (:func:`compact_flatbuffer`). The measurements behind the default scheme are in
:mod:`export.stffda.tflite_export`.

Input: float32 (1, n_channels, n_samples); output: float32 (1, n_classes) probabilities.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from export.nets.onnx_export import ProbabilityHead
from export.nets.registry import entry_for

__all__ = ["TFLITE_SCHEMES", "DEFAULT_SCHEME", "litert_available", "export_tflite_fp32",
           "quantize_tflite", "quantize_tflite_int8", "run_tflite", "strip_tensor_names",
           "compact_flatbuffer", "SCHEME_NOTES", "tflite_scope", "KEEP_FLOAT"]

log = logging.getLogger(__name__)
SIGNATURE = "serving_default"
#: Name prefix of the tensors whose producing ops stay float under quantization.
KEEP_FLOAT = "float"

#: ai_edge_quantizer recipes offered (``static_*`` need calibration windows).
TFLITE_SCHEMES = ("dynamic_wi8_afp32", "weight_only_wi8_afp32", "static_wi8_ai16",
                  "static_wi8_ai8")
DEFAULT_SCHEME = "dynamic_wi8_afp32"
SCHEME_NOTES = {
    "dynamic_wi8_afp32": "int8 weights (per channel), float activations quantized on the fly "
                         "in FULLY_CONNECTED/CONV_2D (hybrid kernels); LSTM weights int8",
    "weight_only_wi8_afp32": "int8 weights dequantized to float before each op; float compute",
    "static_wi8_ai16": "int8 weights, int16 activations (min-max calibration)",
    "static_wi8_ai8": "int8 weights and activations, LSTM included (min-max calibration)",
}


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


def export_tflite_fp32(net: nn.Module) -> bytes:
    """Convert the eval-mode net's ``tflite_form`` (with its softmax) to an fp32 flatbuffer.

    Tensor names are shortened (:func:`strip_tensor_names`) but kept: the quantizer needs them.
    The outputs of the ops of the registry's ``int8_exclude`` (the nodes measured sensitive
    under ONNX int8) are named ``float<i>``, which :func:`quantize_tflite` keeps in float.
    Use :func:`compact_flatbuffer` for the size of a deployable fp32 file.
    """
    import litert_torch

    cfg = net.cfg
    entry = entry_for(cfg)
    model = ProbabilityHead(entry.tflite_form(net)).eval()
    dummy = torch.zeros(1, cfg.n_channels, cfg.n_samples)
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        path = Path(tmp, "fp32.tflite")
        litert_torch.convert(model, (dummy,)).export(str(path))
        return strip_tensor_names(path.read_bytes(), keep_float=entry.int8_exclude)


def tflite_scope(onnx_name: str) -> str:
    """The converter's tensor-name pattern of an ONNX node-name substring ``module/child``
    (``temporal/filter`` -> ``..._temporal/torch.nn.modules.conv.Conv1d_filter;1``)."""
    parts = [re.escape(p) for p in onnx_name.strip("/").split("/")]
    return r"_" + r"/[^/;]*_".join(parts) + r"(;|/|$)"


def quantize_tflite(fp32: bytes, scheme: str = DEFAULT_SCHEME,
                    calib: np.ndarray | None = None) -> bytes:
    """Quantize with one of :data:`TFLITE_SCHEMES`; returns the compacted flatbuffer.

    Parameters
    ----------
    fp32 : bytes
        From :func:`export_tflite_fp32`.
    calib : ndarray, shape (n, n_channels, n_samples), optional
        Preprocessed training windows (``static_*`` schemes only).
    """
    from ai_edge_quantizer import quantizer, recipe

    if scheme not in TFLITE_SCHEMES:
        raise ValueError(f"scheme {scheme!r}: choose from {', '.join(TFLITE_SCHEMES)}")
    static = scheme.startswith("static")
    if static and (calib is None or len(calib) == 0):
        raise ValueError(f"scheme {scheme}: calibration windows are required")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "fp32.tflite")
        src.write_bytes(fp32)
        qt = quantizer.Quantizer(str(src), getattr(recipe, scheme)())
        # the sensitive ops, named by export_tflite_fp32 (a rule matching nothing is inert)
        qt.update_quantization_recipe(regex=f"^{KEEP_FLOAT}[0-9]", operation_name="*",
                                      algorithm_key="no_quantize")
        with _quiet():
            if static:
                name = _input_name(fp32)
                data = {SIGNATURE: [{name: w[None].astype(np.float32)} for w in calib]}
                result = qt.calibrate(data, num_threads=max(1, min(2, os.cpu_count() or 1)))
                q = qt.quantize(result, enable_progress_report=False)
            else:
                q = qt.quantize(enable_progress_report=False)
        return compact_flatbuffer(bytes(q.quantized_model))


def quantize_tflite_int8(fp32: bytes, calib: np.ndarray | None = None,
                         scheme: str = DEFAULT_SCHEME) -> bytes:
    """:func:`quantize_tflite` with the default (int8-weight) scheme; kept for callers."""
    return quantize_tflite(fp32, scheme, calib)


def _read(model: bytes):
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "m.tflite")
        path.write_bytes(model)
        return tfl_flatbuffer_utils.read_model(str(path))


def _write(obj) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def strip_tensor_names(model: bytes, keep_float: Sequence[str] = ()) -> bytes:
    """Replace the converter's long tensor names (module paths, ~50 kB here) by ``t<i>``, or by
    ``float<i>`` where the name matches a ``keep_float`` ONNX node substring
    (:func:`tflite_scope`).

    Signatures refer to tensors by index, so inputs/outputs keep working.
    """
    patterns = [re.compile(tflite_scope(k)) for k in keep_float]
    obj = _read(model)
    for sg in obj.subgraphs:
        for i, t in enumerate(sg.tensors):
            name = (t.name or b"").decode(errors="replace")
            keep = any(p.search(name) for p in patterns)
            t.name = f"{KEEP_FLOAT if keep else 't'}{i}".encode()
    return _write(obj)


def compact_flatbuffer(model: bytes) -> bytes:
    """Drop what the interpreter does not need: tensor names, empty quantization tables and
    shape signatures of static tensors (about 40 bytes per tensor; ~10 kB on this graph).

    Inputs and outputs are found through the signature (by tensor index) or
    ``get_input_details()``; the computation is unchanged (bit-identical outputs).
    """
    obj = _read(model)
    for sg in obj.subgraphs:
        for t in sg.tensors:
            t.name = None
            qp = t.quantization
            if qp is not None and (qp.scale is None or len(qp.scale) == 0) and qp.details is None:
                t.quantization = None
            if t.shapeSignature is not None and -1 not in list(t.shapeSignature):
                t.shapeSignature = None
    return _write(obj)


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
