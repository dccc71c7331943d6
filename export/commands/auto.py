"""``mi-export auto``: train every candidate decoder, rank them by cross-validation on the
training runs, write the winner first (the runtime's default) into the bundle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge.argtypes import finite_float, non_negative_float, positive_float, positive_int
from export.commands.common import add_data_args, require_trials
from export.commands.riemann import DEFAULT_ADAPT_HORIZON
from export.commands.signing import add_sign_key_argument
from export.data import DataError, EpochSet, load_epochs, parse_event_map
from export.progress import progress_printer

__all__ = ["add_subparser", "run"]

EPILOG = """\
examples:
  # one subject's calibration runs, candidates that need no other people's data
  mi-export auto data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 -o build/S007.mibundle
  # with other people's recordings: pooled Riemannian and pooled + fine-tuned STFF-DA too
  mi-export auto S007_imagery_left_right.npz --runs 4 8 \\
      --pool S001_imagery_left_right.npz S002_imagery_left_right.npz ... -o S007.mibundle
  # only some candidates, and only the winner in the bundle
  mi-export auto S007_imagery_left_right.npz --candidates riemann fgsft --winner-only -o b.mibundle

Ranking: each candidate is trained on all training runs but one and scored on the one left out
(leave-one-run-out; a single run: 3 contiguous blocks per class); accuracy over the left-out
trials, ties broken by the mean log-probability of the true class. Nothing outside the given
runs is used, so a run kept back for testing stays unseen. The bundle holds the winner first
(mi-edge runs the first decoder unless told --decoder), then the others in rank order (each
retrained on all the runs; --winner-only skips them), and the ranking under "auto" in the
manifest. Cost, two cores, 30 trials of 64 channels: riemann about a second per candidate,
FGSFT fast grid tens of seconds, the pooled net a few minutes (most of it the pooled base,
trained once).
"""


def _load(args: argparse.Namespace, window: tuple[float, float]) -> tuple[EpochSet, list]:
    events = parse_event_map(args.events)
    ep = load_epochs(args.data, channels=args.channels, classes=args.classes, window=window,
                     sfreq=args.sfreq, runs=args.runs, event_map=events)
    pool = []
    for f in args.pool or []:
        p = load_epochs([f], channels=ep.ch_names, classes=ep.class_names, window=window,
                        sfreq=ep.sfreq, event_map=events)
        same = sorted(set(p.subjects) & set(ep.subjects))
        if same:
            raise DataError(f"--pool {f}: subject {', '.join(same)} is the one being "
                            "calibrated; the pool is other people's recordings")
        pool.append(p)
    return ep, pool


def run(args: argparse.Namespace) -> int:
    from export.auto import run_auto
    from export.auto_candidates import (
        CANDIDATE_NAMES,
        NET_CANDIDATES,
        NET_MARGIN_S,
        default_candidates,
    )

    progress = progress_printer(args.quiet)
    if args.classes is not None and len(args.classes) < 2:
        raise DataError(f"--classes {' '.join(args.classes)}: name at least two classes")
    window = tuple(args.window)
    nets = bool(set(args.candidates or CANDIDATE_NAMES) & set(NET_CANDIDATES))
    wide = (window[0] - NET_MARGIN_S, window[1] + NET_MARGIN_S) if nets and args.pool else window
    try:
        ep, pool = _load(args, wide)
    except DataError as exc:
        if wide == window:
            raise
        raise DataError(f"{exc}\n(the nets train on crops shifted up to {NET_MARGIN_S} s around "
                        "the window: narrow --window, or leave stffda_pooled out of "
                        "--candidates)") from None
    require_trials(ep)
    counts = np.bincount(ep.y, minlength=len(ep.class_names))
    per_class = ", ".join(f"{c}: {n}" for c, n in zip(ep.class_names, counts, strict=True))
    progress(f"loaded {len(ep.y)} trials ({per_class}), {len(ep.ch_names)} channels, "
             f"{ep.sfreq:g} Hz, runs {sorted(set(ep.runs.tolist()))}; pool: {len(pool)} recordings")
    cands = default_candidates(window, pool, args.candidates, fgsft_grid=args.grid,
                               jobs=args.jobs, seed=args.seed, net_epochs=args.net_epochs,
                               adapt_horizon_s=args.adapt_horizon)
    result = run_auto(ep, cands, args.output, winner_only=args.winner_only,
                      sign_key=args.sign_key, progress=progress)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"{'rank':<5}{'candidate':<16}{'inner CV acc':>13}{'log-prob':>10}{'seconds':>9}  "
          "method")
    for r in result.ranking:
        print(f"{r['rank']:<5}{r['name']:<16}{r['cv_accuracy']:>13.3f}{r['cv_loglik']:>10.3f}"
              f"{r['cv_seconds'] + r['pool_seconds'] + r.get('final_seconds', 0):>9.0f}  "
              f"{r['method']}")
    print(f"wrote {result.bundle}: default decoder {result.default} ({result.scheme}); "
          f"decoders {', '.join(result.decoders)}; {result.seconds:.0f} s in all")
    return 0


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from export.auto_candidates import CANDIDATE_NAMES

    p = sub.add_parser(
        "auto", help="train every candidate decoder, keep the best by cross-validation",
        description="Train the candidate decoders (Riemannian tangent space, its filter bank, "
                    "FGSFT, and with --pool the pooled Riemannian and the pooled + fine-tuned "
                    "STFF-DA net), rank them by leave-one-run-out cross-validation on the "
                    "training runs only, and write the winner first in the bundle (the "
                    "runtime's default decoder) with the ranking in the manifest.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory to write "
                   "(an existing bundle there is replaced whole)")
    p.add_argument("--pool", type=Path, nargs="+", metavar="FILE",
                   help="other people's labelled recordings (same classes and channels); "
                        "enables the pooled candidates")
    p.add_argument("--candidates", nargs="+", metavar="NAME",
                   help=f"only these ({', '.join(CANDIDATE_NAMES)}; default: all the data "
                        "allows)")
    p.add_argument("--winner-only", action="store_true",
                   help="write only the winner (skips retraining the others on all runs)")
    p.add_argument("--window", type=finite_float, nargs=2, default=(0.5, 2.5),
                   metavar=("TMIN", "TMAX"), help="analysed epoch relative to the cue, s "
                   "(default 0.5 2.5)")
    p.add_argument("--channels", nargs="+", help="electrodes to use, by name (default: all)")
    p.add_argument("--classes", nargs="+", help="classes by name (default: the file's)")
    p.add_argument("--sfreq", type=positive_float, help="resample to this rate first (Hz)")
    p.add_argument("--grid", default="fast", help="FGSFT segment grid (fast, the default, or "
                                                  "paper: about 5x slower)")
    p.add_argument("--jobs", type=positive_int, default=1, help="FGSFT worker processes")
    p.add_argument("--seed", type=int, default=0, help="the nets' seed (0)")
    p.add_argument("--net-epochs", type=positive_int, nargs=2, default=(40, 20),
                   metavar=("POOL", "FINETUNE"),
                   help="the pooled net: at most POOL epochs on the pool (early stopping on "
                        "the pool's last run), then FINETUNE epochs on the target (40 20)")
    p.add_argument("--adapt-horizon", type=non_negative_float, default=DEFAULT_ADAPT_HORIZON,
                   metavar="S",
                   help="the Riemannian decoders' default online adaptation in the runtime: "
                        "re-center on the wearer's last S seconds of windows, no labels "
                        f"(default {DEFAULT_ADAPT_HORIZON:g}, as mi-export riemann; 0 = off; "
                        "mi-edge run --adapt-horizon / --no-adapt override it)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_sign_key_argument(p)
    p.set_defaults(func=run)
    return p
