"""int8 quantization of STFF-DA's ONNX model: :mod:`export.nets.quantize`, kept importable here."""

from __future__ import annotations

from export.nets.quantize import deviation, quantize_onnx, run_onnx, select_scheme

#: The schemes tried for STFF-DA (``weight_only`` is for small nets, :mod:`export.nets.quantize`).
SCHEMES = ("dynamic", "static", "static_dynlstm")

__all__ = ["SCHEMES", "quantize_onnx", "run_onnx", "deviation", "select_scheme"]
