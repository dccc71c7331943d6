"""``mi-export evaluate``: accuracy, kappa, ITR and confusion of every decoder in a bundle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from export.commands.common import add_data_args
from export.data import parse_event_map

__all__ = ["add_subparser", "run"]


def run(args: argparse.Namespace) -> int:
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


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate", help="accuracy, kappa, ITR and confusion of every decoder in a bundle",
        description="Score every decoder of a bundle on labelled recordings (each decoder at its "
                    "own window, the bundle's channels and rate). Use held-out runs.")
    p.add_argument("bundle", type=Path)
    add_data_args(p)
    p.add_argument("--decoder", nargs="+", help="only these decoders")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: decoder -> accuracy, kappa, itr_bits_per_min, n_trials, "
                        "confusion")
    p.set_defaults(func=run)
    return p
