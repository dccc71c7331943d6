"""``mi-edge replay``: the runtime loop over recordings, scored as self-paced control.

Each decoder replays with its own decision settings: the flags given, else the operating point
its bundle carries (chosen at export on the training runs), else the built-in defaults. The
table gives per decoder the self-paced scores (hits, wrong, misses per cue, false commands per
minute of rest, median latency) and the cue-paced ones; ``--json`` prints everything, the
operating curve over threshold x dwell included; ``--curve-png`` draws that curve.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from edge.argtypes import non_negative_float, out_spec
from edge.bundle import open_bundle
from edge.cli_args import add_loop_arguments, loop_config
from edge.decoders import decoder_spec
from edge.errors import UsageError
from edge.recording import parse_event_map

__all__ = ["add_replay_parser", "cmd_replay", "plot_curves"]

log = logging.getLogger(__name__)


def cmd_replay(args: argparse.Namespace) -> int:
    from edge.outputs import open_sinks
    from edge.replay import replay

    bundle = open_bundle(args.bundle)
    names = args.decoder_list or bundle.decoder_names
    sinks = open_sinks(args.out) if args.out else None
    results: dict[str, dict[str, object]] = {}
    for name in names:
        point = decoder_spec(bundle, name).operating_point
        config = loop_config(args, realtime=False, sfreq=bundle.sfreq, operating_point=point)
        results.update(replay(args.bundle, args.recordings, decoders=[name], config=config,
                              extra_sinks=sinks, grace_s=args.grace,
                              event_map=parse_event_map(args.events)))
        results[name]["operating_point"] = point
    if args.curve_png:
        plot_curves(results, args.curve_png)
    if args.json:
        print(json.dumps(results, default=float))
        return 0
    print_table(results, args.grace)
    return 0


def print_table(results: dict[str, dict[str, object]], grace_s: float) -> None:
    w = max(len("decoder"), *(len(n) for n in results)) + 2
    print(f"{'decoder':<{w}}{'cues':>5}{'hit':>7}{'wrong':>7}{'miss':>7}{'false/min rest':>15}"
          f"{'rest min':>9}{'latency s':>10}{'cue-locked':>11}{'aligned':>8}{'decode ms':>10}"
          "  decision settings")
    for name, r in results.items():
        d = r["decision"]
        print(f"{name:<{w}}{r['n_cues']:>5}{r['hit_rate']:>7.2f}{r['wrong_rate']:>7.2f}"
              f"{r['misses'] / max(1, r['n_cues']):>7.2f}{r['false_per_min_rest']:>15.2f}"
              f"{r['rest_min']:>9.2f}{r['latency_s_median']:>10.2f}"
              f"{r['decision_accuracy']:>11.3f}{r['aligned_window_accuracy']:>8.3f}"
              f"{r['decode_ms_median']:>10.2f}  threshold {d['threshold']:g} dwell "
              f"{d['dwell']} refractory {d['refractory_s']:g} s smoothing {d['smoothing']:g}"
              + (" (bundle's operating point)" if r.get("operating_point") else ""))
    print(f"self-paced: per cue the first command from the cue to the end of its imagery + "
          f"{grace_s:g} s is a hit or wrong, none a miss; commands outside every cue window "
          "are false, per minute of rest. cue-locked: first decision from a window after the "
          "cue; aligned: decoder argmax on the window ending nearest cue + tmax (compare with "
          "mi-export evaluate)")
    for name, r in results.items():
        curve = r.get("operating_curve") or []
        if not curve:
            continue
        print(f"\noperating curve of {name} (hit rate / false commands per min of rest):")
        thresholds = sorted({p["threshold"] for p in curve})
        dwells = sorted({p["dwell"] for p in curve})
        print("threshold " + "".join(f"{'dwell ' + str(d):>14}" for d in dwells))
        for thr in thresholds:
            row = {p["dwell"]: p for p in curve if p["threshold"] == thr}
            print(f"{thr:>9.2f} " + "".join(
                f"{row[d]['hit_rate']:>7.2f}/{row[d]['false_per_min_rest']:<6.1f}"
                for d in dwells))


def plot_curves(results: dict[str, dict[str, object]], path: Path) -> None:
    """Hit rate against false commands per minute of rest, one line per dwell (matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError(f"--curve-png: matplotlib is not installed here ({exc}); `pip install "
                         "matplotlib`, or use --json") from None
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.5), squeeze=False)
    for ax, (name, r) in zip(axes[0], results.items(), strict=True):
        curve = r.get("operating_curve") or []
        for dwell in sorted({p["dwell"] for p in curve}):
            pts = sorted((p for p in curve if p["dwell"] == dwell),
                         key=lambda p: p["threshold"])
            ax.plot([p["false_per_min_rest"] for p in pts], [p["hit_rate"] for p in pts],
                    marker="o", ms=3, label=f"dwell {dwell}")
        ax.plot([r["false_per_min_rest"]], [r["hit_rate"]], "k*", ms=12, label="this replay")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("false commands per minute of rest")
        ax.set_ylabel("hit rate (first command in the cue window)")
        ax.set_title(f"{name}: threshold x dwell")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    log.info("operating curve written to %s", path)


def add_replay_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay", help="pseudo-online evaluation: the runtime loop over recordings",
        description="Run the same loop as `mi-edge run` over continuous recordings as fast as "
                    "possible and score the decisions against the cues as self-paced control "
                    "(hits, wrong, misses per cue; false commands per minute of rest; median "
                    "latency; an operating curve over threshold x dwell) and as cue-paced "
                    "(cue-locked decision accuracy, aligned-window accuracy comparable with "
                    "mi-export evaluate). Decision settings: the flags, else the bundle's "
                    "operating point, else the defaults.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  mi-edge replay S007.mibundle data/eegmmidb/S007_R12_continuous.npz
  mi-edge replay S007.mibundle run12.npz --threshold 0.9 --dwell 4 --json
  mi-edge replay S007.mibundle run12.npz --curve-png curve.png
  mi-edge replay b.mibundle run.npz --events 769=left_hand,770=right_hand,768=rest""")
    p.add_argument("bundle", type=Path)
    p.add_argument("recordings", nargs="+", type=Path, help="*_continuous.npz recordings")
    add_loop_arguments(p)
    p.add_argument("--decoders", dest="decoder_list", nargs="+",
                   help="decoders to replay (default: all)")
    p.add_argument("--events", help="CODE=CLASS[,CODE=CLASS...] cue map (default: parsed from "
                                    "eegmmidb-style event names)")
    p.add_argument("--grace", type=non_negative_float, default=1.0,
                   help="a command up to this long after a cue's imagery still answers it "
                        "(default 1.0 s)")
    p.add_argument("--curve-png", type=Path, help="draw the operating curve to this PNG")
    p.add_argument("--out", action="append", type=out_spec,
                   help="also write outputs: jsonl:PATH or stdout")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_replay)

