"""Self-paced control on real EEG: binary vs rest-aware FGSFT, leave-one-run-out pseudo-online.

S001-S010 of eegmmidb (continuous runs 4, 8, 12 in ``../shared/data``), the 8 electrodes a Cyton
carries resampled to 250 Hz. For each held-out run: ``mi-export fgsft`` trains on the other two
runs (the binary left/right decoder; the rest-aware gate and/or 3-class decoder with ``--rest``),
each choosing its operating point on those two training runs only (each held out in turn,
target 1 false command per minute of rest); then ``mi-edge replay`` (the same functions the
commands call, in one process) replays the held-out run at that operating point. Counts are
pooled per subject over its three held-out runs (one run holds under a minute of rest).

    python benchmarks/selfpaced.py --grid fast --variants binary gate 3class --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"
CYTON = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]
RUNS = (4, 8, 12)
SEPARABLE = ("S001", "S002", "S007")


def export_args(files, variant: str, grid: str, out: Path) -> list[str]:
    args = ["fgsft", *map(str, files), "--channels", *CYTON, "--sfreq", "250", "--grid", grid,
            "-q", "-o", str(out)]
    if variant != "binary":
        args += ["--rest", "--rest-model", variant]
    return args


def run_fold(subject: str, held: int, variant: str, grid: str, tmp: Path) -> dict:
    from edge.bundle import open_bundle
    from edge.cli_args import decision_config
    from edge.decoders import decoder_spec
    from edge.loop import LoopConfig
    from edge.replay import replay
    from export.cli import main as export_main

    files = [SHARED / f"{subject}_R{r:02d}_continuous.npz" for r in RUNS if r != held]
    out = tmp / f"{subject}_{held}_{variant}.mibundle"
    if export_main(export_args(files, variant, grid, out)) != 0:
        raise RuntimeError(f"export failed: {subject} run {held} {variant}")
    point = decoder_spec(open_bundle(out), "fgsft").operating_point
    flags = argparse.Namespace(smoothing=None, threshold=None, dwell=None, refractory=None)
    cfg = LoopConfig(decision=decision_config(flags, point))
    r = replay(out, [SHARED / f"{subject}_R{held:02d}_continuous.npz"], config=cfg,
               curve=False)["fgsft"]
    keep = ("n_cues", "hits", "wrong", "misses", "false_commands", "rest_min",
            "latency_s_median", "aligned_window_accuracy")
    return {**{k: r[k] for k in keep}, "point": {k: point[k] for k in (
        "threshold", "dwell", "refractory_s", "smoothing", "false_per_min_rest", "hit_rate",
        "met")} if point else None}


def pooled(folds: list[dict]) -> dict:
    import numpy as np

    n = sum(f["n_cues"] for f in folds)
    rest = sum(f["rest_min"] for f in folds)
    lat = [f["latency_s_median"] for f in folds if f["latency_s_median"] == f["latency_s_median"]]
    return {"hit_rate": sum(f["hits"] for f in folds) / n,
            "wrong_rate": sum(f["wrong"] for f in folds) / n,
            "false_per_min": sum(f["false_commands"] for f in folds) / rest,
            "latency_s": float(np.median(lat)) if lat else float("nan"),
            "rest_min": rest, "n_cues": n}


def table(results: dict, variants: list[str]) -> str:
    lines = ["| subject | " + " | ".join(f"{v} false/min | {v} hit | {v} wrong | {v} latency s"
                                         for v in variants) + " |",
             "|---|" + "---:|" * (4 * len(variants))]
    for subject, by_var in results.items():
        cells = []
        for v in variants:
            p = by_var.get(v, {}).get("pooled")
            cells += ([f"{p['false_per_min']:.2f}", f"{p['hit_rate']:.2f}",
                       f"{p['wrong_rate']:.2f}", f"{p['latency_s']:.2f}"] if p else ["-"] * 4)
        lines.append(f"| {subject} | " + " | ".join(cells) + " |")
    for label, subjects in (("mean", list(results)), ("mean S001/S002/S007",
                                                      [s for s in SEPARABLE if s in results])):
        cells = []
        for v in variants:
            ps = [results[s][v]["pooled"] for s in subjects if v in results[s]]
            if not ps:
                cells += ["-"] * 4
                continue
            m = {k: sum(p[k] for p in ps) / len(ps) for k in ("false_per_min", "hit_rate",
                                                               "wrong_rate")}
            lat = [p["latency_s"] for p in ps if p["latency_s"] == p["latency_s"]]
            cells += [f"**{m['false_per_min']:.2f}**", f"**{m['hit_rate']:.2f}**",
                      f"{m['wrong_rate']:.2f}", f"{sum(lat) / len(lat):.2f}" if lat else "nan"]
        lines.append(f"| {label} ({len(subjects)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subjects", nargs="+", default=[f"S{i:03d}" for i in range(1, 11)])
    p.add_argument("--variants", nargs="+", default=["binary", "gate", "3class"],
                   choices=["binary", "gate", "fgsft-gate", "3class"])
    p.add_argument("--grid", default="fast")
    p.add_argument("--json", type=Path, help="write every fold's figures here (after each "
                                             "subject)")
    args = p.parse_args(argv)
    if not SHARED.is_dir():
        print(f"benchmark data not found at {SHARED} (../shared/data beside the repo)",
              file=sys.stderr)
        return 2
    results: dict = {}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="selfpaced-") as tmp:
        for subject in args.subjects:
            results[subject] = {}
            for v in args.variants:
                folds = [run_fold(subject, held, v, args.grid, Path(tmp)) for held in RUNS]
                results[subject][v] = {"folds": folds, "pooled": pooled(folds)}
                pp = results[subject][v]["pooled"]
                print(f"[{time.time() - t0:6.0f}s] {subject} {v:<7} false/min "
                      f"{pp['false_per_min']:.2f} hit {pp['hit_rate']:.2f} wrong "
                      f"{pp['wrong_rate']:.2f} latency {pp['latency_s']:.2f} s; points "
                      f"{[(f['point'] or {}).get('threshold') for f in folds]}", flush=True)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, default=float))
    print(table(results, args.variants))
    return 0


if __name__ == "__main__":
    sys.exit(main())
