"""Online unsupervised adaptation of the ``riemann`` decoder, replayed on held-out runs.

eegmmidb S001-S010 (left/right imagery, continuous runs 4, 8, 12 in ``../shared/data``), all
64 electrodes at 160 Hz, window 0.5-2.5 s after the cue. Two models per subject:

* **calibrated**: trained on two runs' epochs of the subject (re-centered to their mean), the
  third run's continuous recording replayed (each run held out in turn);
* **pooled, no calibration**: trained on the other 23 left/right subjects only (S001-S024
  without the target, each re-centered to its own mean), never a trial of the target; the
  calibration whitener is the pool's average reference, so the online reference is the only
  thing the model learns of the target. Replayed on all three runs.

Each bundle is replayed through the runtime loop (:func:`edge.replay.replay`, what ``mi-edge
replay`` runs) twice: adaptation off (``--no-adapt``) and on (``--adapt-horizon``, the running
re-centering reference of the wearer's recent windows, no labels), the same bundle. Scored by
:mod:`edge.scoring` at the runtime's default decision settings: ``acc`` the decoder's argmax on
the window ending at cue + 2.5 s, ``hit`` the first command in a cue window being the cued
class, ``false/min`` commands per minute of rest (these 2-class decoders have no rest class, so
they fire in rest; the figure is there to show adaptation does not make that worse).

    nice -n 10 python benchmarks/online_adaptation.py --json build/online_adaptation.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # eigh on 64x64 matrices: threads only contend
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"
RUNS = (4, 8, 12)
POOL_SUBJECTS = [f"S{i:03d}" for i in range(1, 25)]
WINDOW = (0.5, 2.5)
KEEP = ("n_cues", "hits", "wrong", "false_commands", "rest_min", "aligned_windows",
        "aligned_window_accuracy")


def epochs(subject: str, runs=None):
    from export.data import load_epochs

    return load_epochs([SHARED / f"{subject}_imagery_left_right.npz"], window=WINDOW, runs=runs)


def replay_both(bundle: Path, held: list[int], subject: str, horizon: float) -> dict:
    """Replay the held-out runs with adaptation off and on (the same bundle)."""
    from edge.loop import LoopConfig
    from edge.replay import replay

    files = [SHARED / f"{subject}_R{r:02d}_continuous.npz" for r in held]
    out = {}
    for label, h in (("off", 0.0), ("on", horizon)):
        r = replay(bundle, files, config=LoopConfig(adapt_horizon_s=h), curve=False)["riemann"]
        out[label] = {k: r[k] for k in KEEP}
    return out


def calibrated(subject: str, horizon: float, tmp: Path, say) -> list[dict]:
    from export.riemann import RiemannClassifier, write_riemann

    folds = []
    for held in RUNS:
        ep = epochs(subject, [r for r in RUNS if r != held])
        clf = RiemannClassifier(ep.sfreq).fit(ep.X, ep.y)
        path = write_riemann(tmp / f"{subject}_cal_{held}.mibundle", "riemann", clf, ep)
        folds.append(replay_both(path, [held], subject, horizon))
        say(f"{subject} calibrated, run {held} held out: acc off/on "
            f"{folds[-1]['off']['aligned_window_accuracy']:.3f}/"
            f"{folds[-1]['on']['aligned_window_accuracy']:.3f}")
    return folds


def pooled_only(subject: str, pool_cache: dict, horizon: float, tmp: Path, say) -> dict:
    from export.riemann import RiemannClassifier, write_riemann

    ep = epochs(subject)
    pool = [pool_cache[s] for s in POOL_SUBJECTS if s != subject]
    t0 = time.time()
    clf = RiemannClassifier(ep.sfreq, pool=pool).fit(ep.X[:0], ep.y[:0])
    path = write_riemann(tmp / f"{subject}_pool.mibundle", "riemann", clf, ep,
                         pool_subjects=[s for s in POOL_SUBJECTS if s != subject])
    out = replay_both(path, list(RUNS), subject, horizon)
    say(f"{subject} pooled ({len(pool)} subjects, {time.time() - t0:.0f} s): acc off/on "
        f"{out['off']['aligned_window_accuracy']:.3f}/{out['on']['aligned_window_accuracy']:.3f}")
    return out


def pool_counts(parts: list[dict]) -> dict:
    """Counts summed over replays; rates over all cues, rest minutes and aligned windows."""
    tot = {k: sum(float(p[k]) for p in parts) for k in ("n_cues", "hits", "false_commands",
                                                         "rest_min", "aligned_windows")}
    ok = sum(float(p["aligned_window_accuracy"]) * float(p["aligned_windows"]) for p in parts)
    return {"acc": ok / tot["aligned_windows"], "hit": tot["hits"] / tot["n_cues"],
            "false_per_min": tot["false_commands"] / tot["rest_min"], "n_cues": tot["n_cues"]}


def table(results: dict) -> str:
    cols = [(s, m) for s in ("calibrated", "pooled") for m in ("off", "on")]
    head = " | ".join(f"{s} {m}: acc / hit / false/min" for s, m in cols)
    lines = [f"| subject | {head} |", "|---|" + "---:|" * len(cols)]
    rows = {subj: [r[s][m] for s, m in cols] for subj, r in results.items()}

    def cell(v: dict, bold: bool = False) -> str:
        b = "**" if bold else ""
        return f"{b}{v['acc']:.3f}{b} / {v['hit']:.2f} / {v['false_per_min']:.1f}"

    for subj, vals in rows.items():
        lines.append(f"| {subj} | " + " | ".join(cell(v) for v in vals) + " |")
    n = len(rows)
    means = [{k: sum(rows[s][i][k] for s in rows) / n for k in ("acc", "hit", "false_per_min")}
             for i in range(len(cols))]
    lines.append(f"| mean ({n}) | " + " | ".join(cell(m, True) for m in means) + " |")
    for name, (a, b) in (("calibrated", (0, 1)), ("pooled", (2, 3))):
        diff = [rows[s][b]["acc"] - rows[s][a]["acc"] for s in rows]
        wins = sum(d > 0 for d in diff)
        losses = sum(d < 0 for d in diff)
        lines.append(f"\n{name}: adaptation on - off, acc {sum(diff) / n:+.3f} mean, "
                     f"{wins} better / {losses} worse / {n - wins - losses} equal")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subjects", nargs="+", default=[f"S{i:03d}" for i in range(1, 11)])
    p.add_argument("--horizon", type=float, default=60.0,
                   help="adaptation horizon with adaptation on, s (60)")
    p.add_argument("--json", type=Path, help="write every figure here (after each subject)")
    args = p.parse_args(argv)
    if not SHARED.is_dir():
        print(f"benchmark data not found at {SHARED} (../shared/data beside the repo)",
              file=sys.stderr)
        return 2
    t0 = time.time()

    def say(msg: str) -> None:
        print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)

    pool_cache = {}
    for s in POOL_SUBJECTS:
        ep = epochs(s)
        pool_cache[s] = (ep.X, ep.y)
    say(f"loaded {len(pool_cache)} subjects' epochs")
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="online-adapt-") as tmp:
        for subject in args.subjects:
            folds = calibrated(subject, args.horizon, Path(tmp), say)
            pooled = pooled_only(subject, pool_cache, args.horizon, Path(tmp), say)
            results[subject] = {
                "calibrated": {m: pool_counts([f[m] for f in folds]) for m in ("off", "on")},
                "pooled": {m: pool_counts([pooled[m]]) for m in ("off", "on")},
                "folds": folds, "pooled_raw": pooled}
            if args.json:
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(results, indent=1, default=float))
    print(f"horizon {args.horizon:g} s, hop 0.125 s, default decision settings; "
          f"{time.time() - t0:.0f} s")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
