"""``mi-edge calibrate``: the command line of :mod:`edge.calibrate`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

__all__ = ["add_subparser", "cmd_calibrate"]

EPILOG = """\
examples:
  # a Cyton: 3 runs of 10 left + 10 right trials (about 6 min a run), files in calib/
  mi-edge calibrate --board cyton --serial-port /dev/openbci \\
      --montage C3,Cz,C4,FC3,FC4,CP3,CP4,C1 --subject me -o calib/
  mi-export fgsft calib/me_R01_continuous.npz calib/me_R02_continuous.npz \\
      calib/me_R03_continuous.npz -o me.mibundle
  # the live view as the cue screen: open http://127.0.0.1:8080/ before the first trial
  mi-edge calibrate --board cyton --serial-port /dev/openbci --view 8080 -o calib/
  # try it without a headset (BrainFlow's synthetic board), quick timings, no sound
  mi-edge calibrate --board synthetic --trials 2 --runs 1 --cue-at 0.5 --imagery-end 1.5 \\
      --rest 0.5 0.5 --no-sound -o /tmp/calib

Ctrl-C keeps every completed trial (the current run is written up to its last complete one)."""


def cmd_calibrate(args: argparse.Namespace) -> int:
    from edge.calibrate import Paradigm, Session
    from edge.cli_args import board_config

    paradigm = Paradigm(classes=tuple(args.classes), trials=args.trials, runs=args.runs,
                        cue_s=args.cue_at, imagery_end_s=args.imagery_end,
                        rest_s=tuple(args.rest), break_s=args.break_s, seed=args.seed)
    board = board_config(args)
    session = Session(board, paradigm, args.output, args.subject, first_run=args.first_run,
                      sound=args.sound, view_address=args.view)
    trial_s = paradigm.imagery_end_s + sum(paradigm.rest_s) / 2
    per_run = trial_s * paradigm.trials * len(paradigm.classes)
    print(f"mi-edge calibrate: {board.label}, electrodes {', '.join(session.ch_names)}; "
          f"{paradigm.runs} run(s) of {paradigm.trials} x {', '.join(paradigm.classes)} "
          f"(about {per_run / 60:.1f} min each); sound: {session.sounds.how}",
          file=sys.stderr, flush=True)
    if session.view is not None:
        print(f"mi-edge calibrate: live view at {session.view.url} (cues, signal quality)",
              file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM saves like Ctrl-C
    try:
        results = session.record()
    finally:
        summary = [{"run": r.run, "trials": r.trials, "seconds": round(r.seconds, 2),
                    "csv": str(r.csv), "npz": str(r.npz), "interrupted": r.interrupted,
                    "marker_delay_max_s": max((abs(d) for d in r.marker_delay_s), default=None)}
                   for r in session.results]
        if getattr(args, "json", False):
            print(json.dumps({"subject": args.subject, "runs": summary}), flush=True)
        else:
            for r in summary:
                print(f"run {r['run']}: {r['trials']} trials, {r['seconds']:.0f} s, cue markers "
                      f"within {1e3 * (r['marker_delay_max_s'] or 0):.0f} ms -> {r['npz']}, "
                      f"{r['csv']}" + (" (interrupted)" if r["interrupted"] else ""), flush=True)
    return 0 if results else 4


def add_subparser(sub) -> None:
    """Register ``calibrate`` on ``mi-edge``'s sub-command parsers."""
    from edge.argtypes import non_negative_float, positive_int, view_address
    from edge.cli_args import add_board_arguments

    p = sub.add_parser(
        "calibrate", help="record a cued (Graz) calibration session to train on",
        description="A Graz-style cued session: fixation and a warning tone, the class cue at "
                    "2 s (large in the terminal and as a sound of its own), imagery until 6 s, "
                    "a random 1.5-3 s rest; classes balanced and shuffled per run, runs "
                    "separated by breaks. Cue markers go into the stream with BrainFlow's "
                    "insert_marker. Each run is written as BrainFlow's own file (+ .json "
                    "sidecar) and as the *_continuous.npz every mi-export trainer reads.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    add_board_arguments(p)
    g = p.add_argument_group("paradigm")
    g.add_argument("--classes", nargs="+", default=["left_hand", "right_hand"],
                   help="class names (default left_hand right_hand)")
    g.add_argument("--trials", type=positive_int, default=10,
                   help="trials per class per run (default 10)")
    g.add_argument("--runs", type=positive_int, default=3, help="runs (default 3)")
    g.add_argument("--cue-at", type=non_negative_float, default=2.0,
                   help="cue onset after the fixation, s (default 2)")
    g.add_argument("--imagery-end", type=non_negative_float, default=6.0,
                   help="end of imagery after the fixation, s (default 6)")
    g.add_argument("--rest", type=non_negative_float, nargs=2, default=[1.5, 3.0],
                   metavar=("MIN", "MAX"), help="random rest after each trial, s (1.5 3)")
    g.add_argument("--break-s", type=non_negative_float, default=30.0,
                   help="break between runs, s (default 30)")
    g.add_argument("--seed", type=int, help="seed of the trial order and rests")
    p.add_argument("--subject", default="S01", help="subject id, the files' prefix (S01)")
    p.add_argument("--first-run", type=positive_int, default=1,
                   help="number of the first run (default 1; continue a session with more)")
    p.add_argument("-o", "--output", type=Path, default=Path("calibration"),
                   help="folder for the files (default ./calibration)")
    p.add_argument("--sound", action=argparse.BooleanOptionalAction, default=True,
                   help="cue sounds (default on; --no-sound for headless use)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--view", type=view_address, metavar="[HOST:]PORT",
                   help="serve the live view there as the cue screen: each phase (fixation, "
                        "cue arrow, imagery, rest, break, run and trial) and per-channel signal "
                        "quality, in a browser (HOST 127.0.0.1 unless given; 0.0.0.0: the "
                        "network; port 0: a free one)")
    p.set_defaults(func=cmd_calibrate)
