"""STFF-DA: CNN + LSTM + additive temporal attention for motor imagery (exporter side, torch).

Modules, in the order of the data path:

* :mod:`export.stffda.model`: the network (1D or 2D convolutional front end, optional
  channel-attention gate, LSTM, optional temporal attention, dense softmax);
* :mod:`export.stffda.train`: deterministic CPU training with cropped-window augmentation,
  early stopping on a held-out run, pooled multi-subject training and per-subject fine-tuning;
* :mod:`export.stffda.onnx_export` / :mod:`export.stffda.quantize` /
  :mod:`export.stffda.tflite_export`: fp32 ONNX (BrainFlow-compatible), int8 ONNX Runtime, int8
  TFLite through LiteRT;
* :mod:`export.stffda.bundle`: writes all of them into a bundle; :mod:`export.commands.stffda`:
  ``mi-export stffda``.

The edge runs the exported files with :mod:`edge.decoders.onnx_decoder` and
:mod:`edge.decoders.tflite_decoder`; preprocessing is :mod:`edge.preprocessing` on both sides.
"""
