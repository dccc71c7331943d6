"""Arguments shared by the ``mi-export`` commands that read labelled recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_data_args"]


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="+", type=Path,
                   help="epoch (*_imagery_*.npz) or continuous (*_continuous.npz) recordings")
    p.add_argument("--runs", type=int, nargs="+", help="keep only trials of these runs")
    p.add_argument("--events", help="continuous files: CODE=CLASS[,CODE=CLASS...] cue map "
                                    "(default: parsed from eegmmidb-style event names)")
