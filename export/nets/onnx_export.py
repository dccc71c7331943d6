"""Export a trained net (any of :mod:`export.nets.registry`) to ONNX (fp32) that ONNX Runtime
and BrainFlow both load.

BrainFlow's ``MLModel`` ONNX classifier (5.x) accepts opset <= 16, IR version <= 8, one float
input of fixed shape (SPEC section 4). We therefore export with the TorchScript exporter at
opset 16, a fixed input ``(1, n_channels, n_samples)`` named ``eeg`` and one output
``proba`` of shape ``(1, n_classes)`` (softmax probabilities), and stamp IR version 8 (opset
16 needs IR 8, so the file is valid as such). Batch norm is folded into the convolutions by
the exporter (eval mode). The graph exported is the registry entry's ``onnx_form`` of the net
(the net itself unless it says otherwise) wrapped in a softmax.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import torch
from torch import nn

from export.nets.registry import entry_for

__all__ = ["OPSET", "IR_VERSION", "INPUT_NAME", "OUTPUT_NAME", "ProbabilityHead", "export_onnx",
           "onnx_io", "check_against_torch"]

OPSET = 16
IR_VERSION = 8
INPUT_NAME = "eeg"
OUTPUT_NAME = "proba"


class ProbabilityHead(nn.Module):
    """Wrap a net so it outputs softmax probabilities (what every exported file returns)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def export_onnx(net: nn.Module, *, form: nn.Module | None = None) -> bytes:
    """Serialise ``net`` (eval mode) to ONNX bytes.

    Parameters
    ----------
    net : nn.Module
        A registered net (``net.cfg`` its config).
    form : nn.Module, optional
        The graph to export instead of the registry's ``onnx_form(net)`` (same weights).

    Returns
    -------
    bytes
        A checked ONNX model, opset 16, IR 8, input ``eeg`` float32 (1, C, T), output
        ``proba`` float32 (1, n_classes).
    """
    cfg = net.cfg
    entry = entry_for(cfg)
    src = form if form is not None else entry.onnx_form(net)
    model = ProbabilityHead(src).eval()
    dummy = torch.zeros(1, cfg.n_channels, cfg.n_samples)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            model, (dummy,), buf, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            opset_version=OPSET, do_constant_folding=True, dynamo=False,
        )
    proto = onnx.load_from_string(buf.getvalue())
    proto.ir_version = IR_VERSION
    proto.producer_name = entry.producer or f"mi-edge export.nets.{entry.name}"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def onnx_io(model_bytes: bytes) -> dict[str, object]:
    """Input/output names, shapes and opset/IR of an ONNX model (for the manifest)."""
    proto = onnx.load_from_string(model_bytes)

    def shape(v):
        return [d.dim_value for d in v.type.tensor_type.shape.dim]

    return {
        "input_name": proto.graph.input[0].name,
        "input_shape": shape(proto.graph.input[0]),
        "output_name": proto.graph.output[0].name,
        "output_shape": shape(proto.graph.output[0]),
        "opset": int(max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))),
        "ir_version": int(proto.ir_version),
        "ops": sorted({n.op_type for n in proto.graph.node}),
    }


def check_against_torch(net: nn.Module, model_bytes: bytes, windows: np.ndarray) -> float:
    """Max |p_onnx - p_torch| over preprocessed windows (n, C, T); a sanity check."""
    import onnxruntime as ort

    from export.nets.train import predict_proba

    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    p = np.concatenate([sess.run(None, {INPUT_NAME: w[None].astype(np.float32)})[0]
                        for w in windows])
    return float(np.max(np.abs(p - predict_proba(net, windows))))
