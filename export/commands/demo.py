"""``mi-export demo``: the README's main job on the bundled real EEG (see :mod:`export.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.argtypes import positive_float, positive_int

__all__ = ["add_subparser", "run"]


def run(args: argparse.Namespace) -> int:
    from export.demo import run_demo

    return run_demo(Path(args.workdir), grid=args.grid, jobs=args.jobs, as_json=args.json,
                    speed=args.speed, stffda=not args.no_stffda, rest=not args.no_rest,
                    rest_grid=args.rest_grid)


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="the README's main job on the bundled real EEG",
                       description="Train FGSFT and STFF-DA on runs 4 and 8 of the bundled "
                                   "eegmmidb subject S007 (8 Cyton electrodes, 250 Hz), export "
                                   "the bundle, evaluate it on the held-out run 12, replay run 12 "
                                   "through BrainFlow's playback board into mi-edge run, and send "
                                   "the decisions over a virtual serial port to the device "
                                   "emulator; a rest-aware decoder (--rest, trained on the rest "
                                   "periods of the continuous runs 4 and 8) runs beside the "
                                   "binary one, and each device's tally shows the commands "
                                   "during cues and during rest.")
    p.add_argument("--workdir", default="build/demo", help="where the bundle and report go")
    p.add_argument("--grid", default="paper", help="paper (default) or fast")
    p.add_argument("--jobs", type=positive_int, default=2)
    p.add_argument("--speed", type=positive_float, default=2.0,
                   help="playback speed of the held-out run (2: 62 s instead of 125 s)")
    p.add_argument("--no-stffda", action="store_true", help="train FGSFT only")
    p.add_argument("--no-rest", action="store_true",
                   help="skip the rest-aware decoder (binary only, as before issue 12)")
    p.add_argument("--rest-grid", default="fast",
                   help="segment grid of the rest-aware FGSFT (fast, default: it is trained "
                        "three times, twice to choose its operating point; or paper)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)
    return p
