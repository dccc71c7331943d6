"""Write a trained net (any of :mod:`export.nets.registry`) into a bundle as up to three decoders.

* ``<prefix>_fp32`` (kind ``onnx``): the fp32 ONNX, also loadable by BrainFlow's ``MLModel``;
* ``<prefix>_int8`` (kind ``onnx``): ONNX Runtime int8, the scheme chosen by
  :func:`export.nets.quantize.select_scheme` among the net's ``onnx_schemes``, with its
  ``int8_exclude`` nodes kept in float;
* ``<prefix>_tflite_int8`` (kind ``tflite``): int8 weights through LiteRT (the scheme is
  ``tflite_scheme``, by default ``dynamic_wi8_afp32``: activations stay float, as in ONNX
  Runtime's dynamic int8), when the ``litert`` extra is installed (``tflite="auto"``), required
  (``"on"``) or skipped (``"off"``).

Every spec records the input and output tensors, the preprocessing (numbers the edge runs), the
architecture and training settings, the quantization scheme and the measured fp32-vs-int8
deviation on windows that were not used for calibration. A net trained with Euclidean
alignment carries its whitener in the spec (``alignment``), which the edge applies between the
preprocessing and the model (:mod:`edge.decoders.neural`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge.decoders.spec import DecoderSpec, WindowSpec
from export.bundle_writer import BundleWriter
from export.data import EpochSet, file_sha256
from export.nets.onnx_export import INPUT_NAME, OUTPUT_NAME, export_onnx, onnx_io
from export.nets.quantize import deviation, run_onnx, select_scheme
from export.nets.registry import entry_for
from export.nets.train import TrainConfig, Trained, epochs_to_crops, predict_proba

__all__ = ["ExportedModels", "export_models", "write_net"]

Progress = Callable[[str], None]

TFLITE_WHY = ("full int8 activations (static_wi8_ai8) changed up to 22 % of a subject's "
              "held-out decisions of nets trained on eegmmidb (mean agreement 0.957 over 17 "
              "subjects, max posterior deviation up to 0.78); int8 weights with float "
              "activations (dynamic_wi8_afp32) agreed on 763 of 765, max deviation 0.04 (see "
              "export.stffda.tflite_export)")


class ExportedModels(dict):
    """name suffix -> {"bytes": model bytes, "kind", "quantization", "fp32_vs_int8", "io"}."""


def export_models(trained: Trained, calib: np.ndarray, check: np.ndarray,
                  y_check: np.ndarray | None = None, *, tflite: str = "auto",
                  tflite_scheme: str = "dynamic_wi8_afp32",
                  progress: Progress | None = None) -> ExportedModels:
    """Export fp32 ONNX, int8 ONNX and (optionally) int8 TFLite, with their measurements.

    Parameters
    ----------
    calib : ndarray, shape (n, C, T)
        Preprocessed windows for static calibration (training data).
    check : ndarray, shape (m, C, T)
        Preprocessed windows not used for calibration, for the fp32-vs-int8 comparison.
    """
    say = progress or (lambda m: None)
    out = ExportedModels()
    p_torch = predict_proba(trained.net, check)
    fp32 = export_onnx(trained.net)
    p_fp32 = run_onnx(fp32, check)
    io = onnx_io(fp32)
    out["fp32"] = {
        "bytes": fp32, "kind": "onnx", "io": io,
        "quantization": {"scheme": "none (fp32)"},
        "fp32_vs_int8": None,
        "torch_vs_onnx": deviation(p_torch, p_fp32, y_check),
    }
    say(f"ONNX fp32: {len(fp32)} bytes, max |p_onnx - p_torch| "
        f"{out['fp32']['torch_vs_onnx']['max_abs_posterior_deviation']:.2e}")
    entry = entry_for(trained.net.cfg)
    scheme, int8, report = select_scheme(fp32, calib, check, y_check,
                                         schemes=entry.onnx_schemes, exclude=entry.int8_exclude)
    out["int8"] = {
        "bytes": int8, "kind": "onnx", "io": onnx_io(int8),
        "quantization": {"tool": "onnxruntime.quantization", "scheme": scheme,
                         "weights": "int8", "candidates": report},
        "fp32_vs_int8": report["schemes"][scheme] | {"reference": "ONNX fp32"},
    }
    say(f"ONNX int8 ({scheme}): {len(int8)} bytes ({len(fp32) / len(int8):.1f}x smaller), "
        f"agreement {report['schemes'][scheme]['decision_agreement']:.3f}, max dev "
        f"{report['schemes'][scheme]['max_abs_posterior_deviation']:.4f}")
    if tflite != "off":
        tfl = _tflite_model(trained, fp32, p_fp32, calib, check, y_check, tflite,
                            tflite_scheme, say)
        if tfl is not None:
            out["tflite_int8"] = tfl
    return out


def _tflite_model(trained: Trained, fp32: bytes, p_fp32: np.ndarray, calib: np.ndarray,
                  check: np.ndarray, y_check: np.ndarray | None, tflite: str,
                  tflite_scheme: str, say: Progress) -> dict[str, Any] | None:
    """The LiteRT int8 model and its measurements, or None (``tflite="auto"``, no LiteRT)."""
    from export.nets.tflite_export import (
        DEFAULT_SCHEME,
        SCHEME_NOTES,
        compact_flatbuffer,
        export_tflite_fp32,
        litert_available,
        quantize_tflite,
        run_tflite,
    )

    why = litert_available()
    if why is not None:
        if tflite == "on":
            raise RuntimeError(why)
        say(f"skipping TFLite: {why}")
        return None
    tfl32 = export_tflite_fp32(trained.net)
    tfl32_bytes = len(compact_flatbuffer(tfl32))
    tfl8 = quantize_tflite(tfl32, tflite_scheme, calib)
    dev = deviation(p_fp32, run_tflite(tfl8, check), y_check)
    model = {
        "bytes": tfl8, "kind": "tflite",
        "io": {"input_shape": [1, *check.shape[1:]], "input_dtype": "float32",
               "output": "float32 probabilities"},
        "quantization": {"tool": "litert_torch + ai_edge_quantizer",
                         "scheme": tflite_scheme, "weights": "int8",
                         "activations": ("int8" if tflite_scheme == "static_wi8_ai8"
                                         else "int16" if tflite_scheme.endswith("ai16")
                                         else "float32"),
                         "note": SCHEME_NOTES[tflite_scheme],
                         "default_scheme": DEFAULT_SCHEME,
                         "why": TFLITE_WHY,
                         "tflite_fp32_bytes": tfl32_bytes},
        "fp32_vs_int8": dev | {"bytes": len(tfl8),
                               "size_ratio": len(fp32) / len(tfl8),
                               "size_ratio_vs_tflite_fp32": tfl32_bytes / len(tfl8),
                               "reference": "ONNX fp32"},
    }
    say(f"TFLite int8 ({tflite_scheme}): {len(tfl8)} bytes (fp32 TFLite "
        f"{tfl32_bytes}), agreement {dev['decision_agreement']:.3f}, max dev "
        f"{dev['max_abs_posterior_deviation']:.4f}")
    return model


def _calib_and_check(trained: Trained, ep_wide: EpochSet, n_samples: int, tc: TrainConfig,
                     max_calib: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrate on the centre windows of the non-validation runs; check on the validation run.

    The check run was held out for early stopping only (with ``refit`` the final net also trained
    on it), and never used for calibration.
    """
    data = epochs_to_crops(ep_wide, n_samples, trained.prep, tc.crop_step, trained.whitener)
    val_run = trained.history.get("val_run")
    is_val = data.runs == val_run if val_run is not None else np.zeros(len(data.y), bool)
    if not is_val.any() or is_val.all():  # one run: split trials in two halves
        is_val = np.arange(len(data.y)) % 2 == 1
    calib = data.windows[~is_val][:max_calib]
    return calib, data.windows[is_val], data.y[is_val]


def _net_spec(m: dict[str, Any], member: str, window: tuple[float, float], trained: Trained,
              tc: TrainConfig, hist: dict[str, Any], class_names: list[str]) -> dict[str, Any]:
    """The manifest entry of one exported model (a :class:`DecoderSpec`, as JSON)."""
    ext = "tflite" if m["kind"] == "tflite" else "onnx"
    extra: dict[str, Any] = {
        "input": {
            "name": m["io"].get("input_name", INPUT_NAME if ext == "onnx" else "args_0"),
            "shape": m["io"].get("input_shape"),
            "dtype": m["io"].get("input_dtype", "float32"),
            "layout": "(1, channels in the bundle's order, samples at the bundle's rate)",
            "values": "the window after `preprocessing` (not raw µV)" +
                      (", then multiplied by `alignment.whitener`" if trained.whitener is not None
                       else ""),
        },
        "output": {"name": m["io"].get("output_name", OUTPUT_NAME),
                   "shape": [1, len(class_names)],
                   "meaning": "softmax probabilities in the bundle's class order"},
        "quantization": m["quantization"],
        "fp32_vs_int8": m["fp32_vs_int8"],
        "model_bytes": len(m["bytes"]),
    }
    cfg = trained.net.cfg
    entry = entry_for(cfg)
    if trained.alignment is not None:
        extra["alignment"] = trained.alignment
    if "torch_vs_onnx" in m:  # the fp32 model
        extra["torch_vs_onnx"] = m["torch_vs_onnx"]
        extra["brainflow"] = {
            "loads_in_MLModel": entry.brainflow, "opset": m["io"]["opset"],
            "ir_version": m["io"]["ir_version"],
            "usage": "BrainFlowModelParams(BrainFlowMetrics.USER_DEFINED, "
                     "BrainFlowClassifiers.ONNX_CLASSIFIER); file = this member; "
                     f"output_name = '{OUTPUT_NAME}'; predict(preprocessed "
                     f"{'and aligned ' if trained.whitener is not None else ''}window .ravel()) "
                     "returns the class probabilities",
        }
    return DecoderSpec(
        kind=m["kind"], members=(member,), model=member,
        window=WindowSpec(float(window[0]), float(window[1]), cfg.n_samples),
        preprocessing=trained.prep.to_dict(),
        params={"model": entry.title, "net": entry.name,
                "architecture": cfg.to_dict(), "training": tc.to_dict(), "history": hist},
        extra=extra,
    ).to_dict()


def write_net(bundle: str | Path, prefix: str, trained: Trained, ep_wide: EpochSet,
                 window: tuple[float, float], tc: TrainConfig, *, tflite: str = "auto",
                 tflite_scheme: str = "dynamic_wi8_afp32",
                 provenance: dict[str, Any] | None = None,
                 progress: Progress | None = None,
                 sign_key=None) -> tuple[Path, dict[str, Any]]:
    """Export and add the decoders to a (new or existing) bundle (signed with ``sign_key``, an
    Ed25519 private key or its PEM path, if given).

    Returns
    -------
    path : Path
    summary : dict
        Decoder name -> size, quantization scheme and fp32-vs-int8 deviation.
    """
    cfg = trained.net.cfg
    calib, check, y_check = _calib_and_check(trained, ep_wide, cfg.n_samples, tc)
    models = export_models(trained, calib, check, y_check, tflite=tflite,
                           tflite_scheme=tflite_scheme, progress=progress)
    writer = BundleWriter(bundle, ep_wide.class_names, ep_wide.ch_names, ep_wide.sfreq,
                          rest_class=ep_wide.rest_class)
    hist = {k: v for k, v in trained.history.items() if k not in ("val_loss", "val_acc")}
    base_prov = {
        "inputs": [{"file": p.name, "sha256": file_sha256(p)} for p in ep_wide.sources],
        "subjects": ep_wide.subjects,
        "runs": sorted(int(r) for r in np.unique(ep_wide.runs)),
        "n_trials": int(len(ep_wide.y)),
        "class_counts": np.bincount(ep_wide.y, minlength=len(ep_wide.class_names)).tolist(),
        **(provenance or {}),
    }
    summary: dict[str, Any] = {}
    for suffix, m in models.items():
        name = f"{prefix}_{suffix}"
        ext = "tflite" if m["kind"] == "tflite" else "onnx"
        member = writer.add_member(f"{name}.{ext}", m["bytes"])
        spec = _net_spec(m, member, window, trained, tc, hist, ep_wide.class_names)
        writer.add_decoder(name, spec, base_prov)
        summary[name] = {"kind": m["kind"], "bytes": len(m["bytes"]),
                         "quantization": m["quantization"].get("scheme"),
                         "fp32_vs_int8": m["fp32_vs_int8"]}
    return writer.close(sign_key=sign_key), summary
