"""Arguments shared by the ``mi-export`` commands that read labelled recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edge.argtypes import non_negative_float, positive_float
from export.data import DataError, EpochSet
from export.rest import RestWindows

__all__ = ["add_data_args", "add_rest_args", "rest_windows", "with_rest", "require_trials",
           "MIN_TRIALS_PER_CLASS"]


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="+", type=Path,
                   help="epoch (*_imagery_*.npz) or continuous recordings (*_continuous.npz, "
                        "BrainFlow / OpenBCI GUI files, EDF, BDF, GDF, FIF, ...)")
    p.add_argument("--runs", type=int, nargs="+", help="keep only trials of these runs")
    p.add_argument("--events", help="continuous files: CODE=CLASS or NAME=CLASS[,...] cue map, "
                                    "e.g. T1=left_hand,T2=right_hand for annotations (default: "
                                    "parsed from eegmmidb-style event names)")


#: Fewer labelled trials per class than this cannot be trained and cross-validated honestly:
#: with 4 trials FGSFT's leave-one-block-out selection "scored" 1.000 on noise.
MIN_TRIALS_PER_CLASS = 10


def require_trials(ep: EpochSet, minimum: int = MIN_TRIALS_PER_CLASS) -> None:
    """Refuse a training set with fewer than ``minimum`` trials in any class."""
    counts = np.bincount(ep.y, minlength=len(ep.class_names))
    short = [f"{c}: {n}" for c, n in zip(ep.class_names, counts, strict=True) if n < minimum]
    if short:
        raise DataError(f"too few training trials ({', '.join(short)}); at least {minimum} per "
                        "class are needed (record more runs, or widen --runs)")


def add_rest_args(p: argparse.ArgumentParser, operating_point: bool = True) -> None:
    """``--rest`` and its settings, and (``operating_point``) the decision settings chosen on
    the training runs."""
    g = p.add_argument_group("rest (self-paced control) and the operating point")
    g.add_argument("--rest", nargs="?", const="rest", metavar="NAME",
                   help="train a rest state ('no control', never sent as a command) from the "
                        "rest periods of continuous recordings; NAME is the rest class, "
                        "'rest' by default (eegmmidb T0; with --events map its code to NAME)")
    g.add_argument("--rest-guard", type=non_negative_float, default=1.0,
                   help="rest windows start this long after the end of each imagery period "
                        "(default 1.0 s)")
    g.add_argument("--rest-stride", type=positive_float, default=4.0,
                   help="step between rest windows within a rest period (default 4.0 s: one "
                        "window per eegmmidb rest period, about as many as imagery trials; "
                        "measured: 2 per period tilted the gate to rest, control recall 0.07 "
                        "against 0.33 on S007)")
    if not operating_point:
        return
    g.add_argument("--target-false-rate", type=non_negative_float, default=1.0,
                   help="operating point: at most this many false commands per minute of rest "
                        "on the held-out training runs, with the most hits (default 1.0)")
    g.add_argument("--no-operating-point", action="store_true",
                   help="do not choose decision settings on the training runs (it trains the "
                        "decoder once more per continuous training run)")


def rest_windows(args: argparse.Namespace) -> RestWindows | None:
    """The :class:`RestWindows` of ``--rest`` (None without it)."""
    if not args.rest:
        return None
    try:
        return RestWindows(args.rest, args.rest_guard, args.rest_stride)
    except ValueError as exc:
        raise DataError(str(exc)) from None


def with_rest(classes: list[str] | None, rest: RestWindows | None) -> list[str] | None:
    """``--classes`` with the rest class last (where ``--rest`` asks for it)."""
    if classes is None or rest is None:
        return classes
    return [c for c in classes if c != rest.name] + [rest.name]
