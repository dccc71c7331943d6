"""TFLite int8 export of STFF-DA through LiteRT (optional extra ``mi-edge[litert]``); the code is
:mod:`export.nets.tflite_export` (generic), the measurements of STFF-DA are here.

``litert_torch.convert`` turns the PyTorch net into an fp32 ``.tflite`` without TensorFlow. The
LSTM goes through :class:`export.stffda.model.UnrolledLSTM` (no fused LSTM op is emitted by
litert_torch): one fully connected op per step and elementwise gates, written so the graph stays
small (~17 ops per step). ``ai_edge_quantizer`` then applies one of :data:`TFLITE_SCHEMES`.

Measured against ONNX fp32 on leave-one-run-out held-out data of eegmmidb (nets trained on 30
trials; every 50 ms-shifted held-out crop of 9 folds of S001/S002/S007 for all four schemes,
and the 765 held-out trials of S001-S017 in ``benchmarks/stffda_accuracy.py`` for the first
and last: 2 changed decisions, both near-ties that became correct); sizes of the default net
(64 x 320 input, compacted files; TFLite fp32 171.6 kB, ONNX fp32 149.7 kB, ONNX Runtime
dynamic int8 51.3 kB):

=========================  =======  ==================  ===============  ==================
scheme                     size     agreement           max |dp|         accuracy change
=========================  =======  ==================  ===============  ==================
``dynamic_wi8_afp32``      68.6 kB  0.978-1.000         <= 0.04          0 / +2.2 pt
``weight_only_wi8_afp32``  69.0 kB  1.000               <= 0.003         0
``static_wi8_ai16``        86.7 kB  0.983-1.000         <= 0.20          up to -6.7 pt
``static_wi8_ai8``         86.1 kB  0.78-1.00 (trials)  up to 0.78       -6.7 to +8.9 pt
=========================  =======  ==================  ===============  ==================

Full int8 activations (``static_wi8_ai8``, calibrated on every training crop or only the centre
windows) do not hold the decisions of a trained net, and int16 activations (``static_wi8_ai16``)
only partly (which op loses most was not isolated). Neither is smaller than the default either:
each quantized activation carries its own scale/zero-point table. The default,
:data:`DEFAULT_SCHEME` = ``dynamic_wi8_afp32``, is what ONNX Runtime's dynamic int8 also is: int8
weights (per channel), activations kept in float and quantized on the fly inside the fully
connected and convolution kernels.

The flatbuffer is compacted after quantization (:func:`compact_flatbuffer`: tensor names, empty
quantization tables and static shape signatures removed), which matters for a model whose int8
weights are ~37 kB and whose unrolled LSTM is ~300 ops.

Input: float32 (1, n_channels, n_samples); output: float32 (1, n_classes) probabilities.
"""

from __future__ import annotations

from export.nets.tflite_export import (
    DEFAULT_SCHEME,
    SCHEME_NOTES,
    TFLITE_SCHEMES,
    compact_flatbuffer,
    export_tflite_fp32,
    litert_available,
    quantize_tflite,
    quantize_tflite_int8,
    run_tflite,
    strip_tensor_names,
)

__all__ = ["TFLITE_SCHEMES", "DEFAULT_SCHEME", "litert_available", "export_tflite_fp32",
           "quantize_tflite", "quantize_tflite_int8", "run_tflite", "strip_tensor_names",
           "compact_flatbuffer", "SCHEME_NOTES"]
