"""Export a trained STFF-DA net to ONNX (fp32) that ONNX Runtime and BrainFlow both load.

The generic exporter is :mod:`export.nets.onnx_export` (opset 16, IR 8, input ``eeg`` (1, C, T),
output ``proba``); this module adds STFF-DA's choice of LSTM form.
"""

from __future__ import annotations

from export.nets.onnx_export import (
    INPUT_NAME,
    IR_VERSION,
    OPSET,
    OUTPUT_NAME,
    check_against_torch,
    onnx_io,
)
from export.nets.onnx_export import export_onnx as _export_onnx
from export.stffda.model import STFFDANet

__all__ = ["OPSET", "IR_VERSION", "INPUT_NAME", "OUTPUT_NAME", "export_onnx", "onnx_io",
           "check_against_torch"]


def export_onnx(net: STFFDANet, *, unrolled_lstm: bool = False) -> bytes:
    """Serialise ``net`` (eval mode) to ONNX bytes.

    Parameters
    ----------
    net : STFFDANet
    unrolled_lstm : bool
        Export the LSTM as matrix products (:class:`export.stffda.model.UnrolledLSTM`)
        instead of the ONNX ``LSTM`` op.
    """
    return _export_onnx(net, form=net.unrolled() if unrolled_lstm else None)
