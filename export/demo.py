"""The README's main job, on the real EEG bundled in the repository (``data/``).

Train FGSFT on runs 4 and 8 of eegmmidb subject S007, write the bundle, verify it the way the
device does, evaluate it on the held-out run 12, and draw the report pictures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from edge.bundle import verify_report
from export.data import DataError, load_epochs
from export.evaluate import evaluate_bundle
from export.fgsft import FGSFTConfig
from export.report import write_report
from export.train_fgsft import train_fgsft, write_fgsft

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SUBJECT_FILE = "eegmmidb/S007_imagery_left_right.npz"
TRAIN_RUNS = (4, 8)
TEST_RUNS = (12,)
WINDOW = (0.5, 2.5)


def run_demo(workdir: Path, grid: str = "paper", jobs: int = 2, as_json: bool = False) -> int:
    data = DATA_DIR / SUBJECT_FILE
    if not data.exists():
        raise DataError(f"{data}: bundled recording missing; run the demo from a clone of the "
                        "repository")
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = workdir / "S007.mibundle"

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    say(f"== 1/4 train FGSFT ({grid} grid) on {SUBJECT_FILE}, runs {list(TRAIN_RUNS)}, "
        f"window {WINDOW[0]}-{WINDOW[1]} s after the cue")
    ep = load_epochs([data], window=WINDOW, runs=TRAIN_RUNS)
    clf = train_fgsft(ep, FGSFTConfig(grid=grid, jobs=jobs),
                      lambda m: say(f"   [{time.perf_counter() - t0:6.1f}s] {m}"))
    write_fgsft(bundle, "fgsft", clf, ep)
    say(f"== 2/4 verify the bundle as the edge does: {bundle}")
    for line in verify_report(bundle):
        say(f"   {line}")
    say(f"== 3/4 evaluate on the held-out run(s) {list(TEST_RUNS)}")
    results = evaluate_bundle(bundle, [data], runs=TEST_RUNS)
    say("== 4/4 report pictures")
    pictures = [str(p) for p in write_report(bundle, workdir / "report")]
    summary = {"bundle": str(bundle), "evaluation": results, "pictures": pictures,
               "seconds": round(time.perf_counter() - t0, 1)}
    if as_json:
        print(json.dumps(summary))
    else:
        for name, r in results.items():
            print(f"{name}: held-out accuracy {r['accuracy']:.3f} on {r['n_trials']} trials, "
                  f"kappa {r['kappa']:.3f}, ITR {r['itr_bits_per_min']:.2f} bit/min, "
                  f"confusion {r['confusion']} (rows: {', '.join(r['classes'])})")
        print(f"bundle {bundle}; pictures {', '.join(pictures)}; {summary['seconds']:.0f} s")
    return 0
