"""``mi-export riemann``: train the Riemannian tangent-space decoder and write it to a bundle."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.argtypes import finite_float, non_negative_float, positive_float
from export.commands.common import (
    add_data_args,
    add_rest_args,
    require_trials,
    rest_windows,
    with_rest,
)
from export.commands.signing import add_sign_key_argument
from export.data import DataError, EpochSet, load_epochs, parse_event_map
from export.progress import progress_printer

__all__ = ["add_subparser", "run", "load_pool", "DEFAULT_ADAPT_HORIZON"]

#: The bundle's default online-adaptation horizon, s (``mi-edge run --adapt-horizon`` and
#: ``--no-adapt`` override it).
DEFAULT_ADAPT_HORIZON = 60.0

EPILOG = """\
examples:
  # one subject, runs 4 and 8, one 8-30 Hz band, re-centered to its calibration mean
  mi-export riemann data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 -o build/S007.mibundle
  # a small filter bank (tangent vectors of each band concatenated)
  mi-export riemann S007_imagery_left_right.npz --bands 8 12 12 16 16 24 24 30 -o b.mibundle
  # cross-subject: other people's trials, each re-centered to its own mean, then the target's
  mi-export riemann S007_imagery_left_right.npz --runs 4 8 \\
      --pool S001_imagery_left_right.npz S002_imagery_left_right.npz ... -o b.mibundle
  # no calibration at all: the pool only, the runtime's online reference adapts to the wearer
  mi-export riemann S007_imagery_left_right.npz --pool S0*_imagery_left_right.npz \\
      --pool-only -o b.mibundle
  # replay with and without the online adaptation
  mi-edge replay b.mibundle S007_R12_continuous.npz
  mi-edge replay b.mibundle S007_R12_continuous.npz --no-adapt

Training takes a few seconds per band on two cores (a pool of 20 subjects: about a minute).
"""


def load_pool(files: list[Path], ep: EpochSet, window: tuple[float, float],
              sfreq: float | None, event_map, rest,
              progress: Callable[[str], None] = lambda _m: None, by: str = "subject"
              ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str]]:
    """Other subjects' trials with the target's channels, classes, window and rate: one
    ``(X, y)`` per subject (its files together; ``by="run"``: per run, each re-centered on
    its own), and the subject ids."""
    by_subject: dict[str, list[EpochSet]] = {}
    classes = list(ep.class_names)
    for path in files:
        pe = load_epochs([path], channels=ep.ch_names, classes=classes, window=window,
                         sfreq=sfreq, event_map=event_map, rest=rest)
        if not np.isclose(pe.sfreq, ep.sfreq) or pe.X.shape[1:] != ep.X.shape[1:]:
            raise DataError(f"{path}: {pe.sfreq:g} Hz, trials {pe.X.shape[1:]}; the target's "
                            f"are {ep.sfreq:g} Hz, {ep.X.shape[1:]} (use --sfreq)")
        key = pe.subjects[0] if pe.subjects else str(path)
        if key in ep.subjects:
            raise DataError(f"{path}: subject {key} is the target; the pool holds other people")
        by_subject.setdefault(key, []).append(pe)
    merged = [(np.concatenate([p.X for p in eps]), np.concatenate([p.y for p in eps]),
               np.concatenate([p.runs for p in eps])) for eps in by_subject.values()]
    pool = [(X, y) for X, y, _ in merged] if by == "subject" else \
        [(X[runs == r], y[runs == r]) for X, y, runs in merged for r in np.unique(runs)]
    progress(f"pool: {len(pool)} subjects, {sum(len(y) for _, y in pool)} trials")
    return pool, list(by_subject)


def _bands(values: list[float] | None) -> tuple[tuple[float, float], ...]:
    from export.riemann import DEFAULT_BANDS

    if not values:
        return DEFAULT_BANDS
    if len(values) % 2:
        raise DataError(f"--bands {' '.join(map(str, values))}: give LOW HIGH pairs")
    bands = tuple((float(values[i]), float(values[i + 1])) for i in range(0, len(values), 2))
    if any(lo >= hi for lo, hi in bands):
        raise DataError(f"--bands: each band needs LOW < HIGH, got {bands}")
    return bands


def run(args: argparse.Namespace) -> int:
    from export.operating_point import choose_operating_point
    from export.riemann import RiemannClassifier, write_riemann

    progress = progress_printer(args.quiet)
    if args.classes is not None and len(args.classes) < 2:
        raise DataError(f"--classes {' '.join(args.classes)}: name at least two classes")
    if args.pool_only and not args.pool:
        raise DataError("--pool-only needs --pool FILES")
    rest, events = rest_windows(args), parse_event_map(args.events)
    window = (args.window[0], args.window[1])
    ep = load_epochs(args.data, channels=args.channels, classes=with_rest(args.classes, rest),
                     window=window, sfreq=args.sfreq, runs=args.runs, event_map=events,
                     rest=rest)
    if not args.pool_only:
        require_trials(ep)
    progress(f"loaded {len(ep.y)} trials, {len(ep.ch_names)} channels, {ep.sfreq:g} Hz, "
             f"window {ep.tmin:g}..{ep.tmax:g} s, runs {sorted(set(ep.runs.tolist()))}")
    pool, pool_ids = (load_pool(args.pool, ep, window, args.sfreq, events, rest, progress,
                                args.recenter_by) if args.pool else ([], []))

    def train(sub: EpochSet) -> RiemannClassifier:
        X = sub.X[:0] if args.pool_only else sub.X
        y = sub.y[:0] if args.pool_only else sub.y
        clf = RiemannClassifier(sub.sfreq, bands=_bands(args.bands), shrinkage=args.shrinkage,
                                C=args.C, align=args.align, pool=pool or None,
                                target_weight=args.target_weight, metric=args.metric)
        try:
            return clf.fit(X, y, sub.groups[:len(X)] if args.recenter_by == "run" else None)
        except ValueError as exc:
            raise DataError(str(exc)) from None

    def write(out, sub: EpochSet, clf: RiemannClassifier, **kw) -> Path:
        return write_riemann(out, args.name, clf, sub, adapt_horizon_s=args.adapt_horizon,
                             pool_subjects=pool_ids, **kw)

    progress(f"training: {len(_bands(args.bands))} band(s), "
             f"{'re-centered' if args.align else 'no re-centering'}"
             + (f", pool of {len(pool)} subjects" if pool else ""))
    clf = train(ep)
    point = None
    if rest is not None and not args.no_operating_point and not args.pool_only:
        point = choose_operating_point(ep, args.name, lambda sub, out: write(out, sub, train(sub)),
                                       args.target_false_rate, event_map=events,
                                       progress=progress)
    path = write(args.output, ep, clf, sign_key=args.sign_key, operating_point=point)
    result = {"bundle": str(path), "decoder": args.name, "bands_hz": clf.model_.bands.tolist(),
              "n_train": clf.n_train_, "pool_subjects": pool_ids,
              "adapt_horizon_s": args.adapt_horizon, "seconds": round(clf.seconds_, 2),
              "rest_class": ep.rest_class, "operating_point": point}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"wrote {path} (decoder '{args.name}', riemann: {clf.n_train_['target']} target "
              f"and {clf.n_train_['pool']} pool trials, {clf.seconds_:.1f} s; online "
              f"adaptation {args.adapt_horizon:g} s by default)")
    return 0


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "riemann", help="train the Riemannian tangent-space decoder (optionally pooled)",
        description="Train a Riemannian decoder: shrunk covariances of the band-passed window "
                    "(one band or a small filter bank), re-centered to the subject's mean, "
                    "tangent vectors at the training reference, logistic regression; with "
                    "--pool other subjects' re-centered trials join the training. Written to a "
                    "bundle (created, or extended if it has the same classes and channels).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="bundle directory to write")
    p.add_argument("--name", default="riemann", help="decoder name in the bundle (riemann)")
    p.add_argument("--window", type=finite_float, nargs=2, default=(0.5, 2.5),
                   metavar=("TMIN", "TMAX"),
                   help="analysed epoch relative to the cue, s (default 0.5 2.5)")
    p.add_argument("--channels", nargs="+", help="electrodes to use, by name (default: all)")
    p.add_argument("--classes", nargs="+", help="two or more classes, by name (default: the "
                                                "file's)")
    p.add_argument("--sfreq", type=positive_float, help="resample to this rate first (Hz)")
    g = p.add_argument_group("model")
    g.add_argument("--bands", type=positive_float, nargs="+", metavar="HZ",
                   help="band edges as LOW HIGH pairs, e.g. 8 12 12 16 16 24 24 30 "
                        "(default one band, 8 30)")
    g.add_argument("--shrinkage", choices=("oas", "lw"), default="oas",
                   help="covariance shrinkage: oas (default) or lw (Ledoit-Wolf)")
    g.add_argument("--C", type=positive_float, default=1.0,
                   help="inverse L2 strength of the logistic regression (1.0)")
    g.add_argument("--align", action=argparse.BooleanOptionalAction, default=True,
                   help="re-center each subject's covariances to its own mean (default on)")
    g.add_argument("--recenter-by", choices=("subject", "run"), default="subject",
                   help="re-center each subject's trials together (default) or each run on "
                        "its own (a session's shift removed as the runtime's adaptation does)")
    g.add_argument("--metric", choices=("riemann", "euclid"), default="riemann",
                   help="mean of the re-centering references (riemann)")
    g.add_argument("--pool", nargs="+", type=Path, metavar="FILE",
                   help="other subjects' recordings (same channels, classes, rate): trained "
                        "on together with DATA, each subject re-centered to its own mean")
    g.add_argument("--target-weight", type=positive_float, default=0.5,
                   help="with --pool: share of the total sample weight on DATA's trials (0.5)")
    g.add_argument("--pool-only", action="store_true",
                   help="with --pool: train on the pool alone (DATA names channels and classes)")
    g.add_argument("--adapt-horizon", type=non_negative_float, default=DEFAULT_ADAPT_HORIZON,
                   metavar="S",
                   help="the runtime's default online re-centering to the last S seconds of "
                        f"windows (default {DEFAULT_ADAPT_HORIZON:g}; 0 = off)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_rest_args(p)
    add_sign_key_argument(p)
    p.set_defaults(func=run)
    return p
