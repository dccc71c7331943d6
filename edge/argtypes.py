"""Argument types for the command lines: a bad number is refused where it is typed.

Each function is an ``argparse`` ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError`` with what was expected, so ``--hop nan`` or ``--epochs 0`` ends in
one usage line and exit code 2 instead of running with a value that cannot work.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "finite_float", "out_spec", "view_address"]

#: What ``--out`` accepts.
OUT_FORMS = "serial:PORT, jsonl:PATH, stdout or lsl[:NAME]"


def _number(text: str, kind: type) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number")
    return value


def finite_float(text: str) -> float:
    """Any finite number (no nan, no inf)."""
    return float(_number(text, float))


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = float(_number(text, float))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: expected a number > 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = float(_number(text, float))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: expected a number >= 0")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected an integer >= 1")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: expected an integer >= 0")
    return value


def out_spec(text: str) -> str:
    """An output of ``mi-edge``: ``serial:PORT``, ``jsonl:PATH``, ``stdout`` or ``lsl[:NAME]``
    (LSL streams NAME-decisions and NAME-posteriors; NAME defaults to mi-edge)."""
    kind, sep, target = text.partition(":")
    if text in ("stdout", "lsl") or (sep and kind in ("serial", "jsonl", "lsl") and target):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: expected {OUT_FORMS}")


def view_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` of the live view: ``8080``, ``0.0.0.0:8080``, ``[::1]:8080``; HOST
    defaults to 127.0.0.1 (this machine only); port 0 picks a free one."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535 or not host:
        raise argparse.ArgumentTypeError(f"{text!r}: expected [HOST:]PORT, e.g. 8080 or "
                                         "0.0.0.0:8080")
    return host, number
