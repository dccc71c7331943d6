"""STAFNet's entry in the net registry (:mod:`export.nets.registry`).

:func:`stafnet_entry` is what the registry registers; :func:`ensure_registered` adds it when the
registry does not have it yet (it first lets the registry load its built-in nets, which it only
does while empty)."""

from __future__ import annotations

from torch import nn

from export.nets.registry import NetEntry, names, register
from export.stafnet.config import STAFNetConfig
from export.stafnet.model import STAFNet

__all__ = ["stafnet_entry", "ensure_registered", "INT8_EXCLUDE", "ONNX_SCHEMES"]

#: ONNX node-name substrings kept in float by the int8 schemes. None needed: on every 50 ms
#: crop of a held-out run (tests/test_stafnet.py) and the benchmark's held-out trials, ORT
#: dynamic int8 of every constant-weight MatMul/Conv (attention projections included; layer
#: norm and the activation-by-activation attention products stay float in every scheme) kept
#: >= 98 % of the decisions.
INT8_EXCLUDE: tuple[str, ...] = ()

#: Schemes in order of preference. ``weight_only`` first: on the default 64 x 320 net it is
#: 2.49x smaller than fp32 at fp32 speed (0.72 ms against 0.68 ms per window here), while
#: ``dynamic`` is 1.56x smaller and 17x slower (11.8 ms: ORT's ConvInteger on the per-electrode
#: filter bank) and ``static`` (QDQ) is 1.2x smaller.
ONNX_SCHEMES = ("weight_only", "dynamic", "static")


def _export_form(net: nn.Module) -> nn.Module:
    return net.export_form()  # type: ignore[operator]


def stafnet_entry() -> NetEntry:
    return NetEntry("stafnet", STAFNetConfig, STAFNet,
                    "STAFNet (adaptive graph conv + temporal self-attention + cross-attention "
                    "fusion)", onnx_form=_export_form, tflite_form=_export_form,
                    producer="mi-edge export.stafnet", onnx_schemes=ONNX_SCHEMES,
                    int8_exclude=INT8_EXCLUDE)


def ensure_registered() -> NetEntry:
    """The registered STAFNet entry, registering it if needed."""
    if "stafnet" not in names():
        register(stafnet_entry())
    from export.nets.registry import get

    return get("stafnet")
