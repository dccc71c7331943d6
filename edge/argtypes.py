"""Argument types for the command lines: a bad number is refused where it is typed.

Each function is an ``argparse`` ``type=``: it returns the parsed value or raises
``argparse.ArgumentTypeError`` with what was expected, so ``--hop nan`` or ``--epochs 0`` ends in
one usage line and exit code 2 instead of running with a value that cannot work.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "non_negative_int", "positive_float", "non_negative_float",
           "finite_float", "out_spec"]

#: What ``--out`` accepts.
OUT_FORMS = "serial:PORT, jsonl:PATH or stdout"


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
    """An output of ``mi-edge``: ``serial:PORT``, ``jsonl:PATH`` or ``stdout``."""
    kind, sep, target = text.partition(":")
    if text == "stdout" or (sep and kind in ("serial", "jsonl") and target):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: expected {OUT_FORMS}")
