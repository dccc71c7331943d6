"""Arguments shared by the ``mi-export`` commands that read labelled recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from export.data import DataError, EpochSet

__all__ = ["add_data_args", "require_trials", "MIN_TRIALS_PER_CLASS"]


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
