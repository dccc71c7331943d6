"""What ``mi-export stffda``, ``mi-export eegnet`` and ``mi-export stafnet`` share: the data,
training and export arguments, and the run (load, pool, train or fine-tune, export, print).

Each net command adds its own "network" argument group and a ``make_cfg(first, args)`` that
builds the net's config from the loaded recordings; the rest is here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge.argtypes import finite_float, non_negative_float, positive_float, positive_int
from export.commands.common import add_rest_args, require_trials, rest_windows, with_rest
from export.commands.signing import add_sign_key_argument
from export.data import DataError, EpochSet, load_epochs, parse_event_map
from export.progress import progress_printer

__all__ = ["DEFAULT_BAND", "add_net_parser", "add_export_args", "run_net"]

#: Band-pass used by default. The STFF-DA paper uses 0.5-40 Hz; on eegmmidb (LORO, 1D front
#: end) the 0.5-4 Hz drift dominated the input and the net stayed near chance on S002 (0.56),
#: while 4-40 Hz gave 0.91 on the same splits. ``--band 0.5 40`` restores the paper's value.
DEFAULT_BAND = (4.0, 40.0)

MakeCfg = Callable[[EpochSet, argparse.Namespace], Any]


def add_net_parser(sub: argparse._SubParsersAction, name: str, help: str, description: str,
                   epilog: str) -> argparse.ArgumentParser:
    """The sub-parser with the data and output arguments (the net adds its own group, then
    calls :func:`add_export_args`)."""
    p = sub.add_parser(name, help=help, description=description, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="+", type=Path,
                   help="epoch (*_imagery_*.npz) or continuous recordings (*_continuous.npz, "
                        "BrainFlow / OpenBCI GUI files, EDF, BDF, GDF, FIF, ...)")
    p.add_argument("-o", "--output", required=True,
                   help="bundle directory; with --finetune it must contain {subject}")
    p.add_argument("--name", default=name, help=f"decoder name prefix (default {name})")
    p.add_argument("--runs", type=int, nargs="+", help="keep only trials of these runs")
    p.add_argument("--events", help="continuous files: CODE=CLASS or NAME=CLASS[,...] cue map")
    p.add_argument("--window", type=finite_float, nargs=2, default=(0.5, 2.5),
                   metavar=("TMIN", "TMAX"),
                   help="analysed window relative to the cue, s (default 0.5 2.5)")
    p.add_argument("--channels", nargs="+", help="electrodes to use, by name (default: all)")
    p.add_argument("--classes", nargs="+", help="classes, by name (default: the file's)")
    p.add_argument("--sfreq", type=positive_float, help="resample to this rate first (Hz)")
    p.add_argument("--band", type=positive_float, nargs=2, default=DEFAULT_BAND,
                   metavar=("LOW", "HIGH"),
                   help="band-pass, Hz (default 4 40; the STFF-DA paper's is 0.5 40)")
    return p


def add_export_args(p: argparse.ArgumentParser, epochs: int = 200, patience: int = 40,
                    lr: float = 1e-3, schedule: str = "early-stopping") -> None:
    """Training, pooling, alignment and export arguments (the defaults are the net's
    recipe: the one its benchmark measured)."""
    t = p.add_argument_group("training")
    t.add_argument("--schedule", choices=("early-stopping", "fixed"), default=schedule,
                   help="early-stopping: hold the last training run out, stop when its loss has "
                        "not improved for --patience epochs, then retrain on every run for the "
                        "epochs found; fixed: --epochs on every training run, nothing held out "
                        f"(default {schedule})")
    t.add_argument("--epochs", type=positive_int, default=epochs,
                   help=f"max epochs with early stopping, the epochs of a fixed schedule "
                        f"({epochs})")
    t.add_argument("--patience", type=positive_int, default=patience,
                   help=f"early-stopping patience ({patience})")
    t.add_argument("--lr", type=positive_float, default=lr, help=f"AdamW learning rate ({lr:g})")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads (1: deterministic)")
    t.add_argument("--crop-shift", type=non_negative_float, default=0.25,
                   help="random crops start up to this many s before/after the window (0.25)")
    t.add_argument("--pretrain", "--pool", dest="pretrain", nargs="+", type=Path, metavar="FILE",
                   help="other subjects' recordings: train a pooled model on them first, then "
                        "fine-tune it on DATA (the pool never sees DATA)")
    t.add_argument("--finetune", action="store_true",
                   help="with several subjects in DATA: one pooled model, then one fine-tuned "
                        "bundle per subject (-o with {subject})")
    t.add_argument("--align", action="store_true",
                   help="Euclidean alignment (He & Wu 2020): whiten every subject's windows by "
                        "its own mean spatial covariance before training; the whitener goes "
                        "into the bundle and the edge applies it before the model")
    t.add_argument("--adapt-horizon", type=non_negative_float, default=0.0, metavar="SECONDS",
                   help="with --align: the runtime's default online adaptation, the whitener "
                        "follows the wearer's recent windows over this horizon (no labels, "
                        "reset on faults); 0 (default) keeps the calibration whitener")
    p.add_argument("--tflite", choices=("auto", "on", "off"), default="auto",
                   help="TFLite int8 export: auto (if the litert extra is installed), on, off")
    p.add_argument("--tflite-scheme", default="dynamic_wi8_afp32",
                   choices=("dynamic_wi8_afp32", "weight_only_wi8_afp32", "static_wi8_ai16",
                            "static_wi8_ai8"),
                   help="ai_edge_quantizer recipe (default dynamic_wi8_afp32: int8 weights, "
                        "float activations; full int8 static_wi8_ai8 changed up to 22 %% of "
                        "a subject's held-out decisions of trained STFF-DA nets)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    # a 3-class net (commands + rest, softmax); no operating point is chosen for the net yet
    # (it would train the net once more per run): mi-edge run's flags set the decisions
    add_rest_args(p, operating_point=False)
    add_sign_key_argument(p)


def _load(paths: list[Path], args: argparse.Namespace, runs: list[int] | None) -> EpochSet:
    shift = args.crop_shift
    rest = rest_windows(args)
    return load_epochs(paths, channels=args.channels, classes=with_rest(args.classes, rest),
                       window=(args.window[0] - shift, args.window[1] + shift), sfreq=args.sfreq,
                       runs=runs, event_map=parse_event_map(args.events), rest=rest)


def _check_args(args: argparse.Namespace) -> None:
    if args.window[1] <= args.window[0]:
        raise DataError(f"--window {args.window[0]:g} {args.window[1]:g}: the end must be after "
                        "the start")
    if args.finetune and "{subject}" not in args.output:
        raise DataError("--finetune writes one bundle per subject: put {subject} in -o, e.g. "
                        "-o 'build/{subject}.mibundle'")
    if args.adapt_horizon > 0 and not args.align:
        raise DataError("--adapt-horizon adapts the alignment's reference: add --align")


def _train_all(args: argparse.Namespace, targets: list[EpochSet], cfg: Any, tc: Any,
               say: Callable[[str], None]) -> list[Any]:
    from export.nets.train import finetune, train, train_pooled

    band = tuple(args.band)
    base = None
    if args.pretrain or args.finetune:
        pool = [_load([p], args, None) for p in (args.pretrain or args.data)]
        own = {s for ep in targets for s in ep.subjects}
        if args.pretrain and own & {s for ep in pool for s in ep.subjects}:
            raise DataError(f"--pool holds {', '.join(sorted(own))}, the subject being "
                            "trained: the pool must be other people (it would see the "
                            "held-out runs)")
        say(f"pre-training on {len(pool)} recordings ({sum(len(e.y) for e in pool)} trials)")
        base = train_pooled(pool, cfg, tc, band=band, progress=say, align=args.align)
    out = []
    for ep in targets:
        if base is not None:
            out.append(finetune(base, ep, tc, progress=say, label=f"fine-tune {ep.subjects[0]}"))
        else:
            out.append(train(ep, cfg, tc, band=band, progress=say, label=args.name,
                             align=args.align))
    return out


def run_net(args: argparse.Namespace, make_cfg: MakeCfg) -> int:
    """Load, (pool,) train or fine-tune, export into the bundle(s), print the summary."""
    from export.nets.bundle import write_net
    from export.nets.train import TrainConfig

    say = progress_printer(args.quiet)
    _check_args(args)
    tc = TrainConfig(max_epochs=args.epochs, patience=args.patience, lr=args.lr, seed=args.seed,
                     threads=args.threads, crop_shift=args.crop_shift,
                     early_stopping=args.schedule == "early-stopping")
    targets = ([_load([p], args, args.runs) for p in args.data] if args.finetune
               else [_load(args.data, args, args.runs)])
    for ep in targets:
        require_trials(ep)
        counts = np.bincount(ep.y, minlength=len(ep.class_names))
        say(f"loaded {', '.join(ep.subjects)}: {len(ep.y)} trials "
            f"({', '.join(f'{c}: {n}' for c, n in zip(ep.class_names, counts, strict=True))}), "
            f"{len(ep.ch_names)} channels, {ep.sfreq:g} Hz, runs {sorted(set(ep.runs.tolist()))}")
    cfg = make_cfg(targets[0], args)
    results = {}
    for ep, trained in zip(targets, _train_all(args, targets, cfg, tc, say), strict=True):
        out = args.output.replace("{subject}", ep.subjects[0]) if args.finetune else args.output
        prov = {"window_s": list(args.window),
                "pretrained_on": [p.name for p in (args.pretrain or [])] or
                ([p.name for p in args.data] if args.finetune else None)}
        path, summary = write_net(out, args.name, trained, ep, tuple(args.window), tc,
                                  tflite=args.tflite, tflite_scheme=args.tflite_scheme,
                                  provenance=prov, progress=say, sign_key=args.sign_key,
                                  adapt_horizon_s=args.adapt_horizon)
        results[str(path)] = {"decoders": summary, "epochs": trained.history.get("epochs"),
                              "val_run": trained.history.get("val_run"),
                              "best_val_acc": trained.history.get("best_val_acc"),
                              "seconds": trained.history.get("seconds"),
                              "parameters": int(sum(p.numel() for p in
                                                    trained.net.parameters()))}
    _print(results, args.json)
    return 0


def _print(results: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, default=float))
        return
    for path, r in results.items():
        how = ("fixed schedule" if r["val_run"] is None else
               f"val run {r['val_run']}, val acc "
               f"{r['best_val_acc'] if r['best_val_acc'] is not None else float('nan'):.2f}")
        print(f"wrote {path}: {r['parameters']} parameters, {r['epochs']} epochs ({how}), "
              f"{r['seconds']:.0f} s")
        for name, d in r["decoders"].items():
            dev = d["fp32_vs_int8"]
            extra = (f", vs fp32: agreement {dev['decision_agreement']:.3f}, max dev "
                     f"{dev['max_abs_posterior_deviation']:.4f}") if dev else ""
            print(f"  {name:<22}{d['kind']:<8}{d['bytes']:>9} bytes  {d['quantization']}"
                  f"{extra}")
