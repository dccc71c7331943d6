"""``mi-export fgsft``: train the FGSFT filter-bank decoder and write it to a bundle."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np

from edge.argtypes import finite_float, non_negative_float, positive_float, positive_int
from export.commands.common import (
    add_data_args,
    add_rest_args,
    require_trials,
    rest_windows,
    with_rest,
)
from export.commands.signing import add_sign_key_argument
from export.data import DataError, load_epochs, parse_event_map
from export.progress import progress_printer

__all__ = ["add_subparser", "run"]


EPILOG_FGSFT = """\
examples:
  # train on runs 4 and 8 of an eegmmidb subject, 0.5-2.5 s after the cue, both cores
  mi-export fgsft data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 \\
      --window 0.5 2.5 --jobs 2 -o build/S007.mibundle
  # a quick grid for trying things out
  mi-export fgsft data/eegmmidb/S002_imagery_left_right.npz --grid fast -o build/S002.mibundle
  # a continuous recording, cues given by event code
  mi-export fgsft run1_continuous.npz --events 769=left_hand,770=right_hand -o b.mibundle
  # self-paced: a rest state from the T0 rest periods, decision settings chosen on the runs
  mi-export fgsft data/eegmmidb/S007_R04_continuous.npz data/eegmmidb/S007_R08_continuous.npz \
      --channels C3 Cz C4 FC3 FC4 CP3 CP4 C1 --sfreq 250 --rest -o build/S007rest.mibundle

The paper grid (default) scores about 10 electrode groups x 26 bands x 27-40 windows by
leave-one-block-out CV; with 30 trials of 64 channels it takes about 20 s on two cores.
"""


def run(args: argparse.Namespace) -> int:
    from export.fgsft import GRIDS, FGSFTConfig
    from export.operating_point import choose_operating_point
    from export.train_fgsft import train_fgsft, write_fgsft
    from export.train_gated import train_gated, write_gated

    progress = progress_printer(args.quiet)
    if args.classes is not None and len(args.classes) < 2:
        raise DataError(f"--classes {' '.join(args.classes)}: name at least two classes")
    if args.grid not in GRIDS:
        raise DataError(f"--grid {args.grid}: choose from {', '.join(GRIDS)}")
    lead = args.lead if args.causal else 0.0  # causal epochs start with the filters' warm-up
    rest = rest_windows(args)
    if rest is not None and args.causal:
        raise DataError("--causal with --rest: the rest-aware decoders are zero-phase only; "
                        "drop one of them")
    ep = load_epochs(args.data, channels=args.channels, classes=with_rest(args.classes, rest),
                     window=(args.window[0] - lead, args.window[1]), sfreq=args.sfreq,
                     runs=args.runs, event_map=parse_event_map(args.events), rest=rest)
    require_trials(ep)
    counts = np.bincount(ep.y, minlength=len(ep.class_names))
    per_class = ", ".join(f"{c}: {n}" for c, n in zip(ep.class_names, counts, strict=True))
    progress(f"loaded {len(ep.y)} trials ({per_class}), "
             f"{len(ep.ch_names)} channels, {ep.sfreq:g} Hz, window {ep.tmin:g}..{ep.tmax:g} s, "
             f"runs {sorted(set(ep.runs.tolist()))}")
    config = FGSFTConfig(grid=args.grid, jobs=args.jobs, lam=args.lam, n_filters=args.filters,
                         causal=args.causal, lead=lead)
    gated = rest is not None and args.rest_model in ("gate", "fgsft-gate")
    train, write = (train_fgsft, write_fgsft)
    if gated:
        kind = "ts" if args.rest_model == "gate" else "fgsft"
        train = functools.partial(train_gated, gate=kind)  # type: ignore[assignment]
        write = write_gated
    clf = train(ep, config, progress)
    point = None
    if not args.no_operating_point:
        point = choose_operating_point(
            ep, args.name, lambda sub, out: write(out, args.name, train(sub, config), sub),
            args.target_false_rate, event_map=parse_event_map(args.events), progress=progress)
    path = write(args.output, args.name, clf, ep, sign_key=args.sign_key,
                 operating_point=point, rest=rest.to_dict() if rest else None)
    clf = clf.control if gated else clf
    result = {
        "bundle": str(path),
        "decoder": args.name,
        "chosen_j": clf.scores_["chosen_j"],
        "lobo_accuracy": clf.scores_["chosen_lobo_accuracy"],
        "segments": clf.scores_["n_segments"],
        "segments_used": clf.scores_["n_segments_used"],
        "seconds": clf.scores_["seconds_total"],
        "rest_class": ep.rest_class,
        "operating_point": point,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"wrote {path} (decoder '{args.name}': {result['segments_used']} of "
              f"{result['segments']} segments, training LOBO accuracy "
              f"{max(result['lobo_accuracy']):.3f}, {result['seconds']:.0f} s"
              + (f"; '{ep.rest_class}' is no control" if ep.rest_class else "") + ")")
        if point:
            print(f"operating point (mi-edge run's defaults): threshold {point['threshold']:g}, "
                  f"dwell {point['dwell']}, refractory {point['refractory_s']:g} s, smoothing "
                  f"{point['smoothing']:g}; on the held-out training runs "
                  f"{point['false_per_min_rest']:.2f} false/min of rest (target "
                  f"{point['target_false_per_min']:g}{'' if point['met'] else ', not met'}), "
                  f"hit rate {point['hit_rate']:.2f}")
    return 0


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "fgsft", help="train the FGSFT filter-bank decoder (divCSP + SVM ensemble)",
        description="Train FGSFT (Liu et al. 2025): spatial-frequency-time segments, divCSP "
                    "features, LOBO wrapper selection, top-K SVM ensemble; write it to a bundle "
                    "(created, or extended if it exists with the same classes and channels).",
        epilog=EPILOG_FGSFT, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--name", default="fgsft", help="decoder name in the bundle (default fgsft)")
    p.add_argument("--window", type=finite_float, nargs=2, default=(0.5, 2.5),
                   metavar=("TMIN", "TMAX"),
                   help="analysed epoch relative to the cue, s (default 0.5 2.5; the paper also "
                        "uses 0 1.5)")
    p.add_argument("--channels", nargs="+", help="electrodes to use, by name (default: all)")
    p.add_argument("--classes", nargs="+",
                   help="two or more classes, by name (default: the file's); more than two "
                        "train one-vs-rest heads")
    p.add_argument("--sfreq", type=positive_float, help="resample to this rate first (Hz)")
    p.add_argument("--grid", default="paper", help="segment grid: paper (default) or fast")
    p.add_argument("--lam", type=non_negative_float, default=0.1,
                   help="divCSP intra-class weight (0.1)")
    p.add_argument("--filters", type=positive_int, default=4,
                   help="divCSP filters per segment, d (4)")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="worker processes (use 2 on two cores)")
    p.add_argument("--causal", action="store_true",
                   help="causal filter bank: the runtime filters the stream as it arrives, "
                        "only each hop's new samples (about 30x less work per decision); "
                        "trained with the same causal filtering")
    p.add_argument("--lead", type=non_negative_float, default=1.0,
                   help="with --causal: seconds before the window loaded as the filters' "
                        "warm-up (1.0; the data must start that early)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_rest_args(p)
    p.add_argument("--rest-model", choices=("gate", "fgsft-gate", "3class"), default="gate",
                   help="with --rest: a tangent-space control-vs-rest gate in front of the "
                        "command decoder (gate, default), the same with an FGSFT gate "
                        "(fgsft-gate), or one decoder over commands and rest (3class)")
    add_sign_key_argument(p)
    p.set_defaults(func=run)
    return p
