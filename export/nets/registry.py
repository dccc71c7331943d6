"""The registry of trainable nets: name -> (config dataclass, builder, export forms).

Every net the exporter trains (STFF-DA, EEGNet, STAFNet) is registered here once, so that the
one training loop (:mod:`export.nets.train`), the ONNX/int8/TFLite exports
(:mod:`export.nets.onnx_export`, :mod:`export.nets.quantize`, :mod:`export.nets.tflite_export`)
and the bundle writer (:mod:`export.nets.bundle`) work for any of them.

A net's config is a frozen dataclass with at least ``n_channels``, ``n_samples``,
``n_classes``, ``to_dict()`` and ``from_dict(d)``; the built module keeps it as ``net.cfg`` and
maps a float32 batch (B, C, T) of preprocessed windows to logits (B, n_classes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

__all__ = ["NetEntry", "register", "get", "names", "entry_for", "build"]


def _same(net: nn.Module) -> nn.Module:
    return net


def _same_cfg(cfg: Any, windows: Any) -> Any:
    return cfg


@dataclass(frozen=True)
class NetEntry:
    """One registered net.

    Attributes
    ----------
    name : str
        Registry key, also the default decoder-name prefix (``mi-export NAME``).
    config : type
        Its config dataclass.
    builder : callable
        ``builder(cfg) -> nn.Module`` (fresh weights; the caller seeds torch first).
    title : str
        One line for the manifest (``params.model``).
    onnx_form, tflite_form : callable
        ``form(net) -> nn.Module``: the eval-mode graph to export (same weights), e.g. STFF-DA
        unrolls its LSTM for LiteRT. Default: the net itself.
    producer : str
        ONNX ``producer_name``.
    onnx_schemes : tuple of str
        ONNX Runtime int8 schemes tried (:data:`export.nets.quantize.SCHEMES`).
    int8_exclude : tuple of str
        ONNX node-name substrings kept in float by the int8 schemes (sensitive layers).
    brainflow : bool
        Whether the fp32 ONNX is meant for BrainFlow's ``MLModel`` (opset <= 16, IR <= 8).
    fit_config : callable
        ``fit_config(cfg, windows) -> cfg``: the config completed from the preprocessed
        training windows (n, C, T) before the net is built, e.g. STAFNet's data-derived
        adjacency. Default: unchanged.
    """

    name: str
    config: type
    builder: Callable[[Any], nn.Module]
    title: str
    onnx_form: Callable[[nn.Module], nn.Module] = _same
    tflite_form: Callable[[nn.Module], nn.Module] = _same
    producer: str = ""
    onnx_schemes: tuple[str, ...] = ("dynamic", "static", "weight_only")
    int8_exclude: tuple[str, ...] = ()
    brainflow: bool = True
    fit_config: Callable[[Any, Any], Any] = _same_cfg
    extra: dict[str, Any] = field(default_factory=dict)


_NETS: dict[str, NetEntry] = {}


def register(entry: NetEntry) -> NetEntry:
    """Add (or replace) a net."""
    _NETS[entry.name] = entry
    return entry


def _builtin() -> None:
    """Register the built-in nets on first use (their modules import torch)."""
    if _NETS:
        return
    from export.nets.eegnet import EEGNet, EEGNetConfig
    from export.stafnet.config import STAFNetConfig
    from export.stafnet.model import INT8_EXCLUDE, STAFNet
    from export.stffda.model import STFFDAConfig, STFFDANet

    register(NetEntry("stffda", STFFDAConfig, STFFDANet,
                      "STFF-DA (CNN + LSTM + additive temporal attention)",
                      tflite_form=lambda net: net.unrolled(),  # type: ignore[operator]
                      producer="mi-edge export.stffda",
                      # weight_only (int8 LSTM/conv/dense weights, float compute): 3.6x
                      # smaller at the Cyton montage where dynamic int8 was 1.95x
                      onnx_schemes=("dynamic", "static", "static_dynlstm", "weight_only")))
    register(NetEntry("stafnet", STAFNetConfig, STAFNet,
                      "STAFNet (adaptive graph convolution + temporal self-attention + "
                      "cross-attention fusion)",
                      onnx_form=lambda net: net.export_form(),  # type: ignore[operator]
                      tflite_form=lambda net: net.export_form(),  # type: ignore[operator]
                      producer="mi-edge export.stafnet",
                      # INT8_EXCLUDE: h3's per-node measurement (64 electrodes, S002); and
                      # measured per node (node_sensitivity, weight_only, Cyton montage, S001
                      # run 4 held out): int8 weights of the temporal module's projection alone
                      # changed 4 % of the decisions (max |dp| 0.125); kept float, the whole net
                      # agreed on 99.6 % (max |dp| 0.025) at 2.98x smaller
                      int8_exclude=(*INT8_EXCLUDE, "temporal/project"),
                      fit_config=lambda cfg, windows: cfg.with_adjacency_from(windows)))
    register(NetEntry("eegnet", EEGNetConfig, EEGNet,
                      "EEGNet-8,2 (temporal conv, depthwise spatial conv, separable conv)",
                      producer="mi-edge export.nets.eegnet"))


def names() -> list[str]:
    """Registered net names."""
    _builtin()
    return sorted(_NETS)


def get(name: str) -> NetEntry:
    """The entry of ``name``; ValueError naming the known nets otherwise."""
    _builtin()
    if name not in _NETS:
        raise ValueError(f"unknown net {name!r}: known nets are {', '.join(sorted(_NETS))}")
    return _NETS[name]


def entry_for(cfg: Any) -> NetEntry:
    """The entry whose config class ``cfg`` is an instance of."""
    _builtin()
    for e in _NETS.values():
        if type(cfg) is e.config:
            return e
    raise ValueError(f"no registered net has config type {type(cfg).__name__}")


def build(cfg: Any) -> nn.Module:
    """A fresh net for ``cfg`` (its type selects the net)."""
    return entry_for(cfg).builder(cfg)
