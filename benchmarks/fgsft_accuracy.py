"""Leave-one-run-out accuracy of FGSFT beside MNE CSP+LDA and pyRiemann tangent space + LR.

Every eegmmidb subject in ``../shared/data`` (left/right fist imagery, S001-S024, and the
fists/feet sets), the same splits and the same analysed window for all three pipelines, measured
in one run. Peers are fitted on the same training runs and band-passed 8-30 Hz (zero-phase
Butterworth, the filter code of the edge) as in the data README's sanity checks.

Usage::

    python benchmarks/fgsft_accuracy.py [--grid paper|fast] [--jobs 2] [--window 0.5 2.5]
        [--subjects S001 S002] [--json results.json] [--causal]

``--causal`` also trains the causal FGSFT (``mi-export fgsft --causal``) on the same folds: its
epochs start ``--lead`` s (1.0) earlier, filtered but not analysed (the filters' warm-up), and
its column ``fgsft_causal`` sits beside the zero-phase ``fgsft``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.filterbank import bandpass  # noqa: E402
from export.data import load_epochs  # noqa: E402
from export.fgsft import FGSFTClassifier  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"


def peers():
    import mne
    from mne.decoding import CSP
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    mne.set_log_level("WARNING")

    return {
        "csp_lda": lambda: make_pipeline(CSP(n_components=4, log=True),
                                         LinearDiscriminantAnalysis()),
        "ts_lr": lambda: make_pipeline(Covariances("oas"), TangentSpace(metric="riemann"),
                                       LogisticRegression(C=1.0, max_iter=1000)),
    }


def run_subject(path: Path, window, grid: str, jobs: int, lead: float | None = None) -> dict:
    """``lead`` None: zero-phase FGSFT only; else also the causal one with that warm-up (s)."""
    ep = load_epochs([path], window=tuple(window))
    x_peer = bandpass(ep.X, 8.0, 30.0, ep.sfreq)
    makers = peers()
    correct = {"fgsft": 0, **{k: 0 for k in makers}}
    if lead is not None:
        ep_lead = load_epochs([path], window=(window[0] - lead, window[1]))
        correct["fgsft_causal"] = 0
    train_seconds = []
    for test in np.unique(ep.groups):
        tr, te = ep.groups != test, ep.groups == test
        clf = FGSFTClassifier(ep.sfreq, ep.ch_names, grid=grid, jobs=jobs,
                              progress=lambda m: None)
        t = time.perf_counter()
        clf.fit(ep.X[tr], ep.y[tr], groups=ep.groups[tr])
        train_seconds.append(time.perf_counter() - t)
        correct["fgsft"] += int(np.sum(clf.predict(ep.X[te]) == ep.y[te]))
        if lead is not None:
            causal = FGSFTClassifier(ep.sfreq, ep.ch_names, grid=grid, jobs=jobs, causal=True,
                                     lead=lead, progress=lambda m: None)
            causal.fit(ep_lead.X[tr], ep_lead.y[tr], groups=ep_lead.groups[tr])
            correct["fgsft_causal"] += int(np.sum(causal.predict(ep_lead.X[te]) == ep.y[te]))
        for name, make in makers.items():
            model = make().fit(x_peer[tr], ep.y[tr])
            correct[name] += int(np.sum(model.predict(x_peer[te]) == ep.y[te]))
    n = len(ep.y)
    return {
        "subject": ep.subjects[0],
        "task": path.stem.split("_", 1)[1],
        "n_trials": n,
        "n_runs": int(len(np.unique(ep.groups))),
        **{k: v / n for k, v in correct.items()},
        "fgsft_train_s_mean": float(np.mean(train_seconds)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid", default="paper")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--window", type=float, nargs=2, default=(0.5, 2.5))
    ap.add_argument("--subjects", nargs="+", help="e.g. S001 S002 (default: all)")
    ap.add_argument("--tasks", nargs="+", default=["imagery_left_right", "imagery_fists_feet"])
    ap.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    ap.add_argument("--causal", action="store_true",
                    help="also the causal FGSFT (column fgsft_causal)")
    ap.add_argument("--lead", type=float, default=1.0,
                    help="causal FGSFT: warm-up before the window, s (1.0)")
    ap.add_argument("--resume", action="store_true",
                    help="reuse the rows already in --json (same grid and window assumed)")
    args = ap.parse_args(argv)
    if not SHARED.is_dir():
        print(f"benchmark data not found at {SHARED} (../shared/data beside the repo)",
              file=sys.stderr)
        return 2
    files = sorted(p for t in args.tasks for p in SHARED.glob(f"S*_{t}.npz"))
    if args.subjects:
        files = [f for f in files if f.name.split("_")[0] in args.subjects]
    print(f"FGSFT ({args.grid} grid) vs CSP+LDA vs TS+LR, leave-one-run-out, window "
          f"{args.window[0]}-{args.window[1]} s, {len(files)} recordings", flush=True)
    header = f"{'subject':<8}{'task':<20}{'trials':>7}{'fgsft':>8}{'csp_lda':>9}{'ts_lr':>8}" \
             f"{'train s':>9}"
    print(header, flush=True)
    rows = []
    done = {}
    if args.resume and args.json and args.json.exists():
        done = {(r["subject"], r["task"]): r for r in json.loads(args.json.read_text())["rows"]}
    for f in files:
        runs = np.unique(np.load(f)["run"])
        if len(runs) < 2:
            print(f"{f.name}: one run only ({runs.tolist()}), no leave-one-run-out split; skipped",
                  flush=True)
            continue
        key = (f.name.split("_")[0], f.stem.split("_", 1)[1])
        r = done.get(key) or run_subject(f, args.window, args.grid, args.jobs,
                                         args.lead if args.causal else None)
        rows.append(r)
        causal = f"  causal {r['fgsft_causal']:.3f}" if "fgsft_causal" in r else ""
        print(f"{r['subject']:<8}{r['task']:<20}{r['n_trials']:>7}{r['fgsft']:>8.3f}"
              f"{r['csp_lda']:>9.3f}{r['ts_lr']:>8.3f}{r['fgsft_train_s_mean']:>9.1f}{causal}",
              flush=True)
        if args.json:
            args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                             "rows": rows}, indent=1))
    for task in args.tasks:
        sel = [r for r in rows if r["task"] == task]
        if not sel:
            continue
        m = {k: float(np.mean([r[k] for r in sel])) for k in ("fgsft", "csp_lda", "ts_lr")}
        if all("fgsft_causal" in r for r in sel):
            mc = float(np.mean([r["fgsft_causal"] for r in sel]))
            better = sum(r["fgsft_causal"] > r["fgsft"] for r in sel)
            worse = sum(r["fgsft_causal"] < r["fgsft"] for r in sel)
            print(f"causal FGSFT {task}: mean {mc:.3f} vs zero-phase {m['fgsft']:.3f} "
                  f"({mc - m['fgsft']:+.3f}; better on {better}, worse on {worse} of {len(sel)})")
        wins_csp = sum(r["fgsft"] > r["csp_lda"] for r in sel)
        wins_ts = sum(r["fgsft"] > r["ts_lr"] for r in sel)
        print(f"{'mean':<8}{task:<20}{len(sel):>7}{m['fgsft']:>8.3f}{m['csp_lda']:>9.3f}"
              f"{m['ts_lr']:>8.3f}   FGSFT - CSP+LDA {m['fgsft'] - m['csp_lda']:+.3f} "
              f"(better on {wins_csp}/{len(sel)}), FGSFT - TS+LR {m['fgsft'] - m['ts_lr']:+.3f} "
              f"(better on {wins_ts}/{len(sel)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
