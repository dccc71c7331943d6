"""What a Cyton user gets from ``mi-export auto``: 8 electrodes at 250 Hz, replayed as the device
acts.

S001-S010 of eegmmidb (the subjects with continuous runs 4, 8, 12 in ``../shared/data``), the
demo's montage (C3 Cz C4 FC3 FC4 CP3 CP4 C1) resampled to 250 Hz. For each held-out run,
``mi-export auto`` trains on the subject's two other continuous runs (``--pool``: every other
subject's left/right epoch files, same montage and rate), and ``mi-edge replay`` (the same
functions, in one process) plays the held-out run through the bundle's default decoder at the
runtime's default decision settings. Scored as the device acts (:mod:`edge.scoring`): a cue is
hit when the first command inside its window is the cued class; false commands per minute of
rest. Counts are pooled per subject over its three held-out runs. Cached per (subject, run) in
``--cache``.

    nice -n 10 python benchmarks/transfer_cyton.py --cache build/cyton_cache [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

# one BLAS thread: on two shared cores a multi-threaded eigh of 64 x 64 matrices ran 25x slower
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"
CYTON = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]
RUNS = (4, 8, 12)
KEEP = ("n_cues", "hits", "wrong", "misses", "false_commands", "rest_min", "latency_s_median",
        "aligned_window_accuracy")


def run_fold(subject: str, held: int, candidates: list[str], tmp: Path) -> dict:
    from edge.loop import LoopConfig
    from edge.replay import replay
    from export.cli import main as export_main

    files = [SHARED / f"{subject}_R{r:02d}_continuous.npz" for r in RUNS if r != held]
    pool = sorted(p for p in SHARED.glob("S*_imagery_left_right.npz")
                  if not p.name.startswith(subject))
    out = tmp / f"{subject}_{held}.mibundle"
    argv = ["auto", *map(str, files), "--channels", *CYTON, "--sfreq", "250",
            "--pool", *map(str, pool), "--candidates", *candidates, "--winner-only",
            "-q", "--json", "-o", str(out)]
    buf = io.StringIO()
    t = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        if export_main(argv) != 0:
            raise RuntimeError(f"auto failed: {subject} run {held}")
    seconds = time.perf_counter() - t
    result = json.loads(buf.getvalue())
    name = result["default_decoder"]
    r = replay(out, [SHARED / f"{subject}_R{held:02d}_continuous.npz"], decoders=[name],
               config=LoopConfig(), curve=False)[name]
    return {**{k: r[k] for k in KEEP}, "winner": name, "auto_seconds": seconds,
            "ranking": [(x["name"], x["cv_accuracy"]) for x in result["ranking"]]}


def pooled(folds: list[dict]) -> dict:
    n = sum(f["n_cues"] for f in folds)
    rest = sum(f["rest_min"] for f in folds)
    return {"hit_rate": sum(f["hits"] for f in folds) / n,
            "wrong_rate": sum(f["wrong"] for f in folds) / n,
            "false_per_min": sum(f["false_commands"] for f in folds) / rest,
            "window_accuracy": sum(f["aligned_window_accuracy"] for f in folds) / len(folds),
            "winners": [f["winner"] for f in folds],
            "auto_seconds": sum(f["auto_seconds"] for f in folds) / len(folds)}


def table(results: dict) -> str:
    lines = ["| subject | cue windows hit | wrong command first | false commands / min rest | "
             "held-out window accuracy | auto picks | auto s / fold |",
             "|---|---:|---:|---:|---:|---|---:|"]
    for s, p in results.items():
        lines.append(f"| {s} | {p['hit_rate']:.2f} | {p['wrong_rate']:.2f} | "
                     f"{p['false_per_min']:.1f} | {p['window_accuracy']:.3f} | "
                     f"{', '.join(p['winners'])} | {p['auto_seconds']:.0f} |")
    if results:
        m = {k: sum(p[k] for p in results.values()) / len(results)
             for k in ("hit_rate", "wrong_rate", "false_per_min", "window_accuracy",
                       "auto_seconds")}
        lines.append(f"| mean ({len(results)}) | **{m['hit_rate']:.2f}** | {m['wrong_rate']:.2f}"
                     f" | {m['false_per_min']:.1f} | **{m['window_accuracy']:.3f}** | | "
                     f"{m['auto_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", nargs="+", default=[f"S{i:03d}" for i in range(1, 11)])
    ap.add_argument("--candidates", nargs="+",
                    default=["riemann", "riemann_fb", "riemann_pooled", "fgsft"])
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "cyton_cache")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not SHARED.is_dir():
        print(f"benchmark data not found at {SHARED}", file=sys.stderr)
        return 2
    args.cache.mkdir(parents=True, exist_ok=True)
    results = {}
    t0 = time.perf_counter()
    for s in args.subjects:
        folds = []
        for held in RUNS:
            path = args.cache / f"{s}_run{held:02d}.json"
            if not path.exists():
                path.write_text(json.dumps(run_fold(s, held, args.candidates, args.cache)))
            f = json.loads(path.read_text())
            folds.append(f)
            print(f"[{time.perf_counter() - t0:6.0f}s] {s} run {held}: {f['winner']} hits "
                  f"{f['hits']}/{f['n_cues']}, false {f['false_commands']} in "
                  f"{f['rest_min']:.2f} min rest, auto {f['auto_seconds']:.0f} s",
                  file=sys.stderr, flush=True)
        results[s] = pooled(folds)
    print("Cyton montage (8 ch, 250 Hz), auto's default decoder replayed on each held-out run "
          f"(candidates {', '.join(args.candidates)}; default decision settings)")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
