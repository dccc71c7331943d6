"""int8 quantization of an exported net's ONNX model with ONNX Runtime, and how far it moves
outputs (any net of :mod:`export.nets.registry`).

Three schemes are built and measured on held-out windows (never the calibration windows):

``dynamic``
    ``quantize_dynamic``: int8 weights for Conv (``ConvInteger``), MatMul/Gemm and the LSTM
    (``DynamicQuantizeLSTM``, an ONNX Runtime op); activations quantized on the fly per tensor.
``static``
    ``quantize_static``, QDQ format, per-channel int8 weights, activations calibrated (min-max)
    on preprocessed training windows. ONNX Runtime leaves the LSTM in float here (SPEC
    section 4), so its weights stay fp32.
``static_dynlstm``
    ``static`` for everything but the LSTM, then ``quantize_dynamic`` for the LSTM alone: every
    weight is int8, the convolutions use calibrated activation ranges.
``weight_only``
    int8 weights per output channel behind ``DequantizeLinear``, float compute, compacted names
    (:mod:`export.nets.weight_only`): for small nets, where the other schemes' per-activation
    quantization nodes outweigh the weights.

:func:`select_scheme` keeps the scheme with the best decision agreement with fp32 (then the
smallest max posterior deviation) among those at least ``min_ratio`` times smaller than fp32,
and records all measurements, so the choice is visible in the bundle.

**Sensitive layers stay float.** Every scheme takes ``exclude``: node-name substrings (e.g.
``"attn"``) whose nodes are not quantized. :func:`node_sensitivity` measures, per quantizable
node, how far quantizing that node alone moves the posteriors on held-out windows, and
:func:`sensitive_nodes` picks those above a bound, so an attention score product or a layer
norm that does not survive int8 is measured and kept in float rather than guessed.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from export.nets.onnx_export import INPUT_NAME

__all__ = ["SCHEMES", "QUANT_OPS", "quantize_onnx", "run_onnx", "deviation", "select_scheme",
           "node_sensitivity", "sensitive_nodes", "excluded_nodes"]

log = logging.getLogger(__name__)

SCHEMES = ("dynamic", "static", "static_dynlstm", "weight_only")
#: ONNX op types the schemes quantize (the LSTM only in the dynamic ones).
QUANT_OPS = ("Conv", "MatMul", "Gemm", "LSTM")


class _Reader:
    """Calibration data reader over preprocessed windows, one at a time (fixed batch 1)."""

    def __init__(self, windows: np.ndarray):
        self._it = iter(np.asarray(windows, dtype=np.float32))

    def get_next(self):
        w = next(self._it, None)
        return None if w is None else {INPUT_NAME: w[None]}


def excluded_nodes(fp32: bytes, exclude: tuple[str, ...] | list[str]) -> list[str]:
    """Names of the nodes of ``fp32`` whose name contains one of the ``exclude`` substrings."""
    import onnx

    if not exclude:
        return []
    graph = onnx.load_from_string(fp32).graph
    return [n.name for n in graph.node if any(e in n.name for e in exclude)]


def quantize_onnx(fp32: bytes, scheme: str, calib: np.ndarray | None = None, *,
                  exclude: tuple[str, ...] | list[str] = (),
                  only: list[str] | None = None) -> bytes:
    """Quantize ONNX bytes with one of :data:`SCHEMES`.

    Parameters
    ----------
    fp32 : bytes
        The fp32 model from :func:`export.nets.onnx_export.export_onnx`.
    scheme : str
    calib : ndarray, shape (n, n_channels, n_samples), optional
        Preprocessed training windows (static schemes).
    exclude : sequence of str
        Node-name substrings kept in float (:func:`excluded_nodes`).
    only : list of str, optional
        Quantize these nodes only (exact names; :func:`node_sensitivity`).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme {scheme!r}: choose from {', '.join(SCHEMES)}")
    if scheme == "weight_only":
        from export.nets.weight_only import quantize_weight_only

        skip = excluded_nodes(fp32, tuple(exclude))
        if only is not None:
            import onnx

            skip += [n.name for n in onnx.load_from_string(fp32).graph.node if n.name not in only]
        return quantize_weight_only(fp32, skip)
    if scheme != "dynamic" and (calib is None or len(calib) == 0):
        raise ValueError(f"scheme {scheme}: calibration windows are required")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT's quantizer warns through the root logger
    try:
        return _quantize(fp32, scheme, calib, excluded_nodes(fp32, tuple(exclude)), only)
    finally:
        root.setLevel(level)


def _quantize(fp32: bytes, scheme: str, calib: np.ndarray | None, skip: list[str],
              only: list[str] | None) -> bytes:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    with tempfile.TemporaryDirectory() as tmp:
        src, out, mid = Path(tmp, "fp32.onnx"), Path(tmp, "int8.onnx"), Path(tmp, "mid.onnx")
        src.write_bytes(fp32)
        sel = {"nodes_to_exclude": skip, "nodes_to_quantize": only}
        if scheme == "dynamic":
            quantize_dynamic(src, out, weight_type=QuantType.QInt8, per_channel=False, **sel)
        else:
            ops = ["Conv", "MatMul", "Gemm"]
            quantize_static(
                src, mid if scheme == "static_dynlstm" else out, _Reader(calib),
                quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                op_types_to_quantize=ops, calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True}, **sel,
            )
            if scheme == "static_dynlstm":
                quantize_dynamic(mid, out, weight_type=QuantType.QInt8,
                                 op_types_to_quantize=["LSTM"], **sel)
        return out.read_bytes()


def run_onnx(model: bytes, windows: np.ndarray) -> np.ndarray:
    """Probabilities of preprocessed windows, one window per run (the edge's fixed batch 1)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {INPUT_NAME: w[None].astype(np.float32)})[0]
                           for w in windows]).astype(np.float64)


def deviation(p_ref: np.ndarray, p: np.ndarray, y: np.ndarray | None = None) -> dict[str, Any]:
    """fp32-vs-quantized comparison on the same windows."""
    out = {
        "n_windows": int(len(p_ref)),
        "decision_agreement": float(np.mean(p_ref.argmax(1) == p.argmax(1))),
        "max_abs_posterior_deviation": float(np.max(np.abs(p_ref - p))),
        "mean_abs_posterior_deviation": float(np.mean(np.abs(p_ref - p))),
    }
    if y is not None:
        out["accuracy_reference"] = float(np.mean(p_ref.argmax(1) == y))
        out["accuracy_quantized"] = float(np.mean(p.argmax(1) == y))
    return out


def select_scheme(fp32: bytes, calib: np.ndarray, heldout: np.ndarray,
                  y_heldout: np.ndarray | None = None, *, min_ratio: float = 2.5,
                  schemes: tuple[str, ...] = SCHEMES,
                  exclude: tuple[str, ...] = ()) -> tuple[str, bytes, dict[str, Any]]:
    """Build every scheme, measure each against fp32 on ``heldout``, keep the best.

    Returns
    -------
    scheme : str
    model : bytes
    report : dict
        Per scheme: size, size ratio and :func:`deviation`; plus ``chosen`` and ``rule``.
    """
    p_ref = run_onnx(fp32, heldout)
    report: dict[str, Any] = {"fp32_bytes": len(fp32), "schemes": {}}
    if exclude:
        report["kept_float"] = excluded_nodes(fp32, exclude)
    built: dict[str, bytes] = {}
    for scheme in schemes:
        try:
            q = quantize_onnx(fp32, scheme, calib, exclude=exclude)
            dev = deviation(p_ref, run_onnx(q, heldout), y_heldout)
        except Exception as exc:  # a scheme ORT cannot build on this graph is reported, not fatal
            log.warning("int8 scheme %s failed: %s", scheme, exc)
            report["schemes"][scheme] = {"error": str(exc)[:300]}
            continue
        built[scheme] = q
        report["schemes"][scheme] = {"bytes": len(q), "size_ratio": len(fp32) / len(q), **dev}
    if not built:
        raise RuntimeError("no int8 scheme could be built: " + str(report["schemes"]))

    def key(s: str) -> tuple:
        r = report["schemes"][s]
        return (r["size_ratio"] >= min_ratio, r["decision_agreement"],
                -r["max_abs_posterior_deviation"], r["size_ratio"])

    chosen = max(built, key=key)
    report["chosen"] = chosen
    report["rule"] = (f"highest decision agreement with fp32 on held-out windows among schemes "
                      f">= {min_ratio}x smaller, then smallest max posterior deviation")
    return chosen, built[chosen], report


def node_sensitivity(fp32: bytes, heldout: np.ndarray, scheme: str = "dynamic",
                     calib: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Quantize each quantizable node alone and measure it against fp32 on ``heldout``.

    Returns
    -------
    list of dict
        One per node (``node``, ``op``, ``decision_agreement``, ``max_abs_posterior_deviation``,
        ...), the most damaging first. A node ORT does not quantize alone reports ``error``.
    """
    import onnx

    graph = onnx.load_from_string(fp32).graph
    ops = QUANT_OPS if scheme != "static" else QUANT_OPS[:3]
    p_ref = run_onnx(fp32, heldout)
    rows = []
    for node in graph.node:
        if node.op_type not in ops:
            continue
        try:
            q = quantize_onnx(fp32, scheme, calib, only=[node.name])
            rows.append({"node": node.name, "op": node.op_type,
                         **deviation(p_ref, run_onnx(q, heldout))})
        except Exception as exc:  # reported, not fatal: the whole-model schemes decide
            rows.append({"node": node.name, "op": node.op_type, "error": str(exc)[:200]})
    return sorted(rows, key=lambda r: -r.get("max_abs_posterior_deviation", -1.0))


def sensitive_nodes(rows: list[dict[str, Any]], max_dev: float = 0.05,
                    min_agreement: float = 0.99) -> list[str]:
    """Nodes of :func:`node_sensitivity` that alone move a posterior by more than ``max_dev`` or
    change more than ``1 - min_agreement`` of the decisions (keep them in float)."""
    return [r["node"] for r in rows if "error" not in r and
            (r["max_abs_posterior_deviation"] > max_dev or
             r["decision_agreement"] < min_agreement)]
