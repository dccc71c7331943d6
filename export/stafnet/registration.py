"""STAFNet's entry in the net registry (:mod:`export.nets.registry`).

:func:`stafnet_entry` is what the registry registers; :func:`ensure_registered` adds it when the
registry does not have it yet (it first lets the registry load its built-in nets, which it only
does while empty)."""

from __future__ import annotations

from torch import nn

from export.nets.registry import NetEntry, names, register
from export.stafnet.config import STAFNetConfig
from export.stafnet.model import STAFNet

__all__ = ["stafnet_entry", "ensure_registered", "INT8_EXCLUDE"]

#: ONNX node-name substrings kept in float by the int8 schemes (none needed: measured in
#: tests/test_stafnet.py, dynamic int8 of every MatMul/Conv with constant weights holds).
INT8_EXCLUDE: tuple[str, ...] = ()


def _export_form(net: nn.Module) -> nn.Module:
    return net.export_form()  # type: ignore[operator]


def stafnet_entry() -> NetEntry:
    return NetEntry("stafnet", STAFNetConfig, STAFNet,
                    "STAFNet (adaptive graph conv + temporal self-attention + cross-attention "
                    "fusion)", onnx_form=_export_form, tflite_form=_export_form,
                    producer="mi-edge export.stafnet", onnx_schemes=("dynamic", "static"),
                    int8_exclude=INT8_EXCLUDE)


def ensure_registered() -> NetEntry:
    """The registered STAFNet entry, registering it if needed."""
    if "stafnet" not in names():
        register(stafnet_entry())
    from export.nets.registry import get

    return get("stafnet")
