"""Re-centering the ``riemann`` decoder on the held-out run itself (offline, epochs).

24 eegmmidb left/right subjects (``../shared/data``), leave-one-run-out, 30 training trials,
all 64 electrodes at 160 Hz, window 0.5-2.5 s, one 8-30 Hz band, OAS. Per held-out run:

* ``calibration``: the test trials re-centered with the calibration whitener (equivalent to no
  re-centering: the tangent space at the mean is affine-invariant; this is pyRiemann's TS+LR);
* ``own run``: re-centered to the Riemannian mean of the held-out run's own trials, no labels:
  where the runtime's online reference converges within a run;
* ``own run, per-run training``: the same, trained with each training run re-centered on its
  own (``fit(..., groups=runs)``, ``mi-export riemann --recenter-by run``).

    nice -n 10 python benchmarks/riemann_recentering.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # eigh on 64x64 matrices: threads only contend
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"
VARIANTS = ("calibration", "own run", "own run, per-run training")


def subject_scores(subject: str) -> dict[str, float]:
    """Accuracy of each variant over the subject's held-out trials (all folds pooled)."""
    from edge.alignment import reference_mean, whitener
    from export.data import load_epochs
    from export.riemann import RiemannClassifier

    ep = load_epochs([SHARED / f"{subject}_imagery_left_right.npz"], window=(0.5, 2.5))
    hits = {v: 0 for v in VARIANTS}
    for run in np.unique(ep.runs):
        train, test = ep.subset(ep.runs != run), ep.subset(ep.runs == run)
        one = RiemannClassifier(ep.sfreq).fit(train.X, train.y)
        per_run = RiemannClassifier(ep.sfreq).fit(train.X, train.y, groups=train.runs)
        covs = one.model_.band_covariances(test.X)
        own = np.stack([whitener(reference_mean(c)) for c in covs])
        for variant, clf, W in ((VARIANTS[0], one, None), (VARIANTS[1], one, own),
                                (VARIANTS[2], per_run, own)):
            p = clf.model_.proba(clf.model_.features(covs, W))
            hits[variant] += int(np.sum(np.argmax(p, axis=1) == test.y))
    return {v: hits[v] / len(ep.y) for v in VARIANTS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subjects", nargs="+", default=[f"S{i:03d}" for i in range(1, 25)])
    args = p.parse_args(argv)
    if not SHARED.is_dir():
        print(f"benchmark data not found at {SHARED}", file=sys.stderr)
        return 2
    t0 = time.time()
    rows = {}
    for subject in args.subjects:
        rows[subject] = subject_scores(subject)
        print(f"[{time.time() - t0:5.0f}s] {subject} " + ", ".join(
            f"{v} {a:.3f}" for v, a in rows[subject].items()), file=sys.stderr, flush=True)
    print("| subject | " + " | ".join(VARIANTS) + " |")
    print("|---|" + "---:|" * len(VARIANTS))
    for subject, r in rows.items():
        print(f"| {subject} | " + " | ".join(f"{r[v]:.3f}" for v in VARIANTS) + " |")
    means = {v: float(np.mean([r[v] for r in rows.values()])) for v in VARIANTS}
    print(f"| **mean ({len(rows)})** | " + " | ".join(f"**{means[v]:.3f}**" for v in VARIANTS)
          + " |")
    for v in VARIANTS[1:]:
        d = np.array([r[v] - r[VARIANTS[0]] for r in rows.values()])
        print(f"\n{v} - calibration: {d.mean():+.3f} mean, {int(np.sum(d > 0))} better / "
              f"{int(np.sum(d < 0))} worse / {int(np.sum(d == 0))} equal")
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
