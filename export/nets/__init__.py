"""Trainable nets and their one pipeline: registry, training, ONNX/int8/TFLite export, bundle.

* :mod:`export.nets.registry`: name -> config dataclass, builder, export forms (``stffda``,
  ``eegnet``, ``stafnet``);
* :mod:`export.nets.train`: deterministic training with crops, early stopping on a held-out run,
  pooled subjects, fine-tuning, Euclidean alignment;
* :mod:`export.nets.onnx_export` (fp32, BrainFlow ``MLModel``-compatible),
  :mod:`export.nets.quantize` (ONNX Runtime int8, sensitive nodes kept float),
  :mod:`export.nets.tflite_export` (LiteRT int8);
* :mod:`export.nets.bundle`: writes them into a bundle;
* :mod:`export.nets.eegnet`: EEGNet-8,2.

The STFF-DA modules (:mod:`export.stffda`) keep their names and re-export these.
"""
