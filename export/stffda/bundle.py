"""Write a trained STFF-DA net into a bundle (``<prefix>_fp32``, ``<prefix>_int8``,
``<prefix>_tflite_int8``): :mod:`export.nets.bundle`, kept importable here."""

from __future__ import annotations

from export.nets.bundle import TFLITE_WHY, ExportedModels, export_models
from export.nets.bundle import write_net as write_stffda

__all__ = ["ExportedModels", "export_models", "write_stffda", "TFLITE_WHY"]
