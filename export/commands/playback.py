"""``mi-export playback``: a BrainFlow playback file from a continuous recording."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.argtypes import non_negative_float, positive_float
from edge.boards import board_label
from export.playback import write_playback

__all__ = ["add_subparser", "run"]

EPILOG = """\
examples:
  # S007 run 12 as a Cyton would stream it, sensorimotor channels on the eight inputs
  mi-export playback data/eegmmidb/S007_R12_continuous.npz --board cyton \\
      --channels C3 Cz C4 FC3 FC4 CP3 CP4 Fz -o build/S007_R12.cyton.csv
  # then play it through the runtime (montage and master board come from the sidecar)
  mi-edge run S007.mibundle --board playback --file build/S007_R12.cyton.csv
  # the first 20 s, four times faster than real time
  mi-export playback data/eegmmidb/S007_R12_continuous.npz --channels C3 Cz C4 \\
      --duration 20 --speed 4 -o build/short.csv

The bundle must be trained at the board's rate (Cyton 250 Hz, Cyton + Daisy 125 Hz):
mi-export fgsft ... --sfreq 250 --channels C3 Cz C4 ...
"""


def run(args: argparse.Namespace) -> int:
    """Run ``mi-export playback``."""
    pf = write_playback(args.recording, args.output, board=args.board, channels=args.channels,
                        start_s=args.start, duration_s=args.duration, speed=args.speed)
    if getattr(args, "json", False):
        print(json.dumps({"file": str(pf.path), "sidecar": str(pf.sidecar),
                          "board_id": pf.board_id, "sfreq": pf.sfreq,
                          "n_samples": pf.n_samples, "channels": pf.channels,
                          "n_markers": int(len(pf.markers))}))
    else:
        print(f"wrote {pf.path} ({pf.n_samples} samples, {pf.n_samples / pf.sfreq:.1f} s at "
              f"{pf.sfreq:g} Hz for {board_label(pf.board_id)}, {len(pf.markers)} cue markers) "
              f"and {pf.sidecar}")
    return 0


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``mi-export playback`` on the sub-command set of the ``mi-export`` parser."""
    p = sub.add_parser(
        "playback", help="write a BrainFlow playback file from a continuous recording",
        description="Write a BrainFlow playback file (DataFilter.write_file, exactly the master "
                    "board's row count) from a continuous recording: the named channels on "
                    "the board's EEG inputs resampled to its rate, cue markers (event code + 1) "
                    "in the marker row, a wrapping package counter and monotonic timestamps; "
                    "plus a JSON sidecar FILE.json with the channel and marker maps.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recording", type=Path, help="continuous recording (*_continuous.npz)")
    p.add_argument("-o", "--output", type=Path, required=True, help="playback file to write")
    p.add_argument("--board", default="cyton",
                   help="master board: cyton (default, 8 x 250 Hz), cyton-daisy (16 x 125 Hz) "
                        "or a BrainFlow board id")
    p.add_argument("--channels", nargs="+", required=True,
                   help="recording channel on each EEG input, in input order (fewer than the "
                        "board's inputs: the rest are zero)")
    p.add_argument("--start", type=non_negative_float, default=0.0,
                   help="start in the recording, s")
    p.add_argument("--duration", type=positive_float,
                   help="length to write, s (default: to the end)")
    p.add_argument("--speed", type=positive_float, default=1.0,
                   help="playback speed factor written in the timestamps (default 1, real time)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)
    return p
