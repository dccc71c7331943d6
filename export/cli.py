"""``mi-export``: train decoders on calibration recordings and write the bundle the edge runs.

The CLI owns the terminal: progress goes to stderr, results to stdout (a table, or one JSON
object with ``--json``). Errors a user can cause become one line and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from edge.errors import MiEdgeError
from export.data import DataError, load_epochs, parse_event_map
from export.progress import progress_printer
from export.signing_cli import add_sign_key_argument

EPILOG_FGSFT = """\
examples:
  # train on runs 4 and 8 of an eegmmidb subject, 0.5-2.5 s after the cue, both cores
  mi-export fgsft data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 \\
      --window 0.5 2.5 --jobs 2 -o build/S007.mibundle
  # a quick grid for trying things out
  mi-export fgsft data/eegmmidb/S002_imagery_left_right.npz --grid fast -o build/S002.mibundle
  # a continuous recording, cues given by event code
  mi-export fgsft run1_continuous.npz --events 769=left_hand,770=right_hand -o b.mibundle

The paper grid (default) scores about 10 electrode groups x 26 bands x 27-40 windows by
leave-one-block-out CV; with 30 trials of 64 channels it takes about 20 s on two cores.
"""


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="+", type=Path,
                   help="epoch (*_imagery_*.npz) or continuous (*_continuous.npz) recordings")
    p.add_argument("--runs", type=int, nargs="+", help="keep only trials of these runs")
    p.add_argument("--events", help="continuous files: CODE=CLASS[,CODE=CLASS...] cue map "
                                    "(default: parsed from eegmmidb-style event names)")


def cmd_fgsft(args: argparse.Namespace) -> int:
    from export.fgsft import GRIDS, FGSFTConfig
    from export.train_fgsft import train_fgsft, write_fgsft

    progress = progress_printer(args.quiet)
    if args.grid not in GRIDS:
        raise DataError(f"--grid {args.grid}: choose from {', '.join(GRIDS)}")
    ep = load_epochs(args.data, channels=args.channels, classes=args.classes,
                     window=tuple(args.window), sfreq=args.sfreq, runs=args.runs,
                     event_map=parse_event_map(args.events))
    counts = np.bincount(ep.y, minlength=len(ep.class_names))
    per_class = ", ".join(f"{c}: {n}" for c, n in zip(ep.class_names, counts, strict=True))
    progress(f"loaded {len(ep.y)} trials ({per_class}), "
             f"{len(ep.ch_names)} channels, {ep.sfreq:g} Hz, window {ep.tmin:g}..{ep.tmax:g} s, "
             f"runs {sorted(set(ep.runs.tolist()))}")
    config = FGSFTConfig(grid=args.grid, jobs=args.jobs, lam=args.lam, n_filters=args.filters)
    clf = train_fgsft(ep, config, progress)
    path = write_fgsft(args.output, args.name, clf, ep, sign_key=args.sign_key)
    result = {
        "bundle": str(path),
        "decoder": args.name,
        "chosen_j": clf.scores_["chosen_j"],
        "lobo_accuracy": clf.scores_["chosen_lobo_accuracy"],
        "segments": clf.scores_["n_segments"],
        "segments_used": clf.scores_["n_segments_used"],
        "seconds": clf.scores_["seconds_total"],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"wrote {path} (decoder '{args.name}': {result['segments_used']} of "
              f"{result['segments']} segments, training LOBO accuracy "
              f"{max(result['lobo_accuracy']):.3f}, {result['seconds']:.0f} s)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from export.evaluate import evaluate_bundle

    results = evaluate_bundle(args.bundle, args.data, runs=args.runs,
                              event_map=parse_event_map(args.events), decoders=args.decoder)
    if args.json:
        print(json.dumps(results))
        return 0
    w = max(len("decoder"), *(len(n) for n in results)) + 2
    print(f"{'decoder':<{w}}{'kind':<8}{'trials':>7}{'accuracy':>10}{'kappa':>8}"
          f"{'ITR bit/min':>13}  confusion (rows true)")
    for name, r in results.items():
        print(f"{name:<{w}}{r['kind']:<8}{r['n_trials']:>7}{r['accuracy']:>10.3f}"
              f"{r['kappa']:>8.3f}{r['itr_bits_per_min']:>13.2f}  {r['confusion']}")
    first = next(iter(results.values()))
    print(f"classes {first['classes']}, window {first['window_s']:g} s, runs {first['runs']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from export.report import write_report

    for p in write_report(args.bundle, args.output, args.decoder):
        print(p)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from export.demo import run_demo

    return run_demo(Path(args.workdir), grid=args.grid, jobs=args.jobs, as_json=args.json,
                    speed=args.speed, stffda=not args.no_stffda)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mi-export",
        description="Train motor-imagery decoders on calibration EEG and export the bundle that "
                    "the mi-edge runtime loads on the device.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "fgsft", help="train the FGSFT filter-bank decoder (divCSP + SVM ensemble)",
        description="Train FGSFT (Liu et al. 2025): spatial-frequency-time segments, divCSP "
                    "features, LOBO wrapper selection, top-K SVM ensemble; write it to a bundle "
                    "(created, or extended if it exists with the same classes and channels).",
        epilog=EPILOG_FGSFT, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_data_args(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--name", default="fgsft", help="decoder name in the bundle (default fgsft)")
    p.add_argument("--window", type=float, nargs=2, default=(0.5, 2.5), metavar=("TMIN", "TMAX"),
                   help="analysed epoch relative to the cue, s (default 0.5 2.5; the paper also "
                        "uses 0 1.5)")
    p.add_argument("--channels", nargs="+", help="electrodes to use, by name (default: all)")
    p.add_argument("--classes", nargs=2, help="the two classes, by name (default: the file's)")
    p.add_argument("--sfreq", type=float, help="resample to this rate first (Hz)")
    p.add_argument("--grid", default="paper", help="segment grid: paper (default) or fast")
    p.add_argument("--lam", type=float, default=0.1, help="divCSP intra-class weight (0.1)")
    p.add_argument("--filters", type=int, default=4, help="divCSP filters per segment, d (4)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (use 2 on two cores)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_sign_key_argument(p)
    p.set_defaults(func=cmd_fgsft)

    p = sub.add_parser(
        "evaluate", help="accuracy, kappa, ITR and confusion of every decoder in a bundle",
        description="Score every decoder of a bundle on labelled recordings (each decoder at its "
                    "own window, the bundle's channels and rate). Use held-out runs.")
    p.add_argument("bundle", type=Path)
    _add_data_args(p)
    p.add_argument("--decoder", nargs="+", help="only these decoders")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: decoder -> accuracy, kappa, itr_bits_per_min, n_trials, "
                        "confusion")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="draw the FGSFT time-frequency and electrode-group maps",
                       description="Write the fine-grained MI time-frequency reaction map and the "
                                   "electrode-group significance map as PNG files.")
    p.add_argument("bundle", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="directory for the PNGs")
    p.add_argument("--decoder", default="fgsft")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="the README's main job on the bundled real EEG",
                       description="Train FGSFT and STFF-DA on runs 4 and 8 of the bundled "
                                   "eegmmidb subject S007 (8 Cyton electrodes, 250 Hz), export "
                                   "the bundle, evaluate it on the held-out run 12, replay run 12 "
                                   "through BrainFlow's playback board into mi-edge run, and send "
                                   "the decisions over a virtual serial port to the device "
                                   "emulator.")
    p.add_argument("--workdir", default="build/demo", help="where the bundle and report go")
    p.add_argument("--grid", default="paper", help="paper (default) or fast")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--speed", type=float, default=2.0,
                   help="playback speed of the held-out run (2: 62 s instead of 125 s)")
    p.add_argument("--no-stffda", action="store_true", help="train FGSFT only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)
    from export.playback import add_subparser as add_playback
    from export.signing_cli import add_subparsers as add_signing
    from export.stffda.cli import add_subparser as add_stffda

    add_stffda(sub)
    add_playback(sub)
    add_signing(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (MiEdgeError, DataError, ValueError) as exc:
        print(f"mi-export: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        print("mi-export: interrupted; nothing was written for the unfinished step",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
