"""Self-paced control on real EEG, posteriors first: decision policies compared on cached traces.

The same leave-one-run-out protocol as ``benchmarks/selfpaced.py`` (S001-S010 of eegmmidb, runs
4, 8, 12, the 8 Cyton electrodes at 250 Hz), split in two so that decision policies can be
compared without training again:

1. per subject and variant, the decoders the protocol needs are trained once: on each pair of
   runs (replayed on the third: the held-out test) and on each single run (replayed on the other
   two: what the exporter's operating-point search replays, :mod:`export.operating_point`);
   their raw posteriors, hop by hop, are cached as ``.npz`` under ``--cache``;
2. a *policy* (the decision grid searched and the internal target false-command rate) chooses
   an operating point on the two training runs of each fold (each held out in turn, the
   decoder trained on the other, counts pooled) exactly as the exporter does
   (:func:`edge.operating.sweep`, :func:`edge.operating.choose`), and the held-out run is scored
   at that point (:func:`edge.operating.decisions`, the decision layer's rule, and
   :func:`edge.scoring.score_selfpaced`). Counts are pooled per subject over its three folds.

    python benchmarks/selfpaced_traces.py --subjects S001 S002 S007 --variants binary gate
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

from benchmarks.selfpaced import CYTON, RUNS, SHARED, pooled  # noqa: E402

#: name -> (refractory choices, smoothing choices, internal target as a fraction of the 1/min
#: goal); "oracle" chooses on the held-out run itself (an upper bound, not a result)
R4, R8 = (1.0, 2.0, 4.0), (1.0, 2.0, 4.0, 6.0, 8.0)
POLICIES = {
    "export (refr 1-4 s, target 1)": (R4, (0.5, 0.25), 1.0),
    "refr 1-8 s, target 1": (R8, (0.5, 0.25), 1.0),
    "refr 1-4 s, target 0.5": (R4, (0.5, 0.25), 0.5),
    "refr 1-8 s, target 0.5": (R8, (0.5, 0.25), 0.5),
    "refr 1-8 s, smoothing to 0.1, target 1": (R8, (0.5, 0.25, 0.1), 1.0),
    "refr 1-8 s, smoothing to 0.1, target 0.5": (R8, (0.5, 0.25, 0.1), 0.5),
    "oracle: refr 1-8 s, smoothing to 0.1, target 1 on the test run": (R8, (0.5, 0.25, 0.1),
                                                                        1.0),
}


def _train(subject: str, train_runs: tuple[int, ...], variant: str, grid: str, guard: float,
           out: Path) -> Path:
    from export.data import load_epochs
    from export.fgsft import FGSFTConfig
    from export.rest import RestWindows
    from export.train_fgsft import train_fgsft, write_fgsft
    from export.train_gated import train_gated, write_gated

    rest = None if variant == "binary" else RestWindows("rest", guard, 4.0)
    if variant == "3class":
        raise NotImplementedError("3class: use benchmarks/selfpaced.py")
    files = [SHARED / f"{subject}_R{r:02d}_continuous.npz" for r in train_runs]
    ep = load_epochs(files, channels=CYTON, classes=["left_hand", "right_hand"] + (
        ["rest"] if rest else []), window=(0.5, 2.5), sfreq=250.0, rest=rest)
    config = FGSFTConfig(grid=grid, jobs=1)
    if variant in ("gate", "fgsft-gate"):
        clf = train_gated(ep, config, gate="ts" if variant == "gate" else "fgsft")
        return write_gated(out, "fgsft", clf, ep)
    return write_fgsft(out, "fgsft", train_fgsft(ep, config), ep)


def traces(subject: str, variant: str, grid: str, guard: float, cache: Path) -> dict:
    """(train runs, replayed run) -> RunTrace, from the cache or trained now."""
    import tempfile

    from edge.operating import RunTrace
    from edge.replay import replay_traces

    path = cache / f"{subject}_{variant}_{grid}_g{guard:g}.npz"
    pairs = [((a, b), c) for c in RUNS for a, b in [tuple(r for r in RUNS if r != c)]]
    pairs += [((a,), b) for a in RUNS for b in RUNS if b != a]
    if path.exists():
        z = np.load(path, allow_pickle=False)
        out = {}
        for train, held in pairs:
            k = "_".join(map(str, train)) + f"__{held}"
            out[train, held] = RunTrace(z[k + "_t"], z[k + "_p"],
                                        [tuple(c) for c in z[k + "_c"].tolist()],
                                        tuple(z[k + "_s"].tolist()))
        return out
    arrays, out = {}, {}
    with tempfile.TemporaryDirectory(prefix="sp-traces-") as tmp:
        for train in sorted({t for t, _ in pairs}):
            bundle = _train(subject, train, variant, grid, guard,
                            Path(tmp) / f"{'_'.join(map(str, train))}.mibundle")
            for t, held in pairs:
                if t != train:
                    continue
                (tr,) = replay_traces(bundle, "fgsft",
                                      [SHARED / f"{subject}_R{held:02d}_continuous.npz"])
                out[train, held] = tr
                k = "_".join(map(str, train)) + f"__{held}"
                arrays.update({k + "_t": tr.t, k + "_p": tr.proba,
                               k + "_c": np.asarray(tr.cues, dtype=np.float64),
                               k + "_s": np.asarray(tr.span)})
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return out


def evaluate(tr: dict, variant: str, refractories, smoothings, target: float,
             oracle: bool = False) -> list[dict]:
    """The three folds of one subject at the points the policy chooses on the training runs."""
    from edge.decision import DecisionConfig
    from edge.operating import DWELLS, THRESHOLDS, choose, decisions, sweep
    from edge.scoring import score_selfpaced

    rest_index = None if variant == "binary" else 2
    folds = []
    for held in RUNS:
        a, b = (r for r in RUNS if r != held)
        test = tr[(a, b), held]
        on = [test] if oracle else [tr[(b,), a], tr[(a,), b]]
        point = choose(sweep(on, rest_index, THRESHOLDS, DWELLS, refractories, smoothings),
                       target)
        cfg = DecisionConfig(smoothing=point["smoothing"], threshold=point["threshold"],
                             dwell=point["dwell"], refractory_s=point["refractory_s"])
        dec, lead = decisions(test.proba, test.t, cfg, rest_index)
        s = score_selfpaced(test.t, dec, lead, test.cues, test.span)
        folds.append({**s, "point": {k: point[k] for k in ("threshold", "dwell",
                                                            "refractory_s", "smoothing")}})
    return folds


def test_curve(tr: dict, variant: str, refractories=R8, smoothings=(0.5, 0.25, 0.1)
               ) -> list[dict]:
    """Every decision setting scored on one subject's three held-out runs (pooled counts)."""
    from edge.operating import DWELLS, THRESHOLDS, sweep

    tests = [tr[tuple(r for r in RUNS if r != held), held] for held in RUNS]
    return sweep(tests, None if variant == "binary" else 2, THRESHOLDS, DWELLS, refractories,
                 smoothings)


def cross_subject(curves: dict[str, list[dict]], target: float = 1.0) -> dict[str, dict]:
    """Leave-one-subject-out: each subject runs at the one setting that, averaged over the
    *other* subjects' held-out runs, makes at most ``target`` false commands per minute of rest
    with the most hits (a population default: no data of the subject chooses it)."""
    out = {}
    for s, curve in curves.items():
        others = [c for o, c in curves.items() if o != s]
        best, best_key = 0, None
        for i in range(len(curve)):
            fpm = float(np.mean([c[i]["false_per_min_rest"] for c in others]))
            hit = float(np.mean([c[i]["hit_rate"] for c in others]))
            key = (fpm <= target, hit if fpm <= target else -fpm)
            if best_key is None or key > best_key:
                best, best_key = i, key
        p = curve[best]
        out[s] = {"pooled": {"hit_rate": p["hit_rate"], "wrong_rate": p["wrong_rate"],
                             "false_per_min": p["false_per_min_rest"],
                             "latency_s": p["latency_s_median"], "rest_min": p["rest_min"],
                             "n_cues": p["n_cues"]},
                  "points": [{k: p[k] for k in ("threshold", "dwell", "refractory_s",
                                                "smoothing")}]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subjects", nargs="+", default=[f"S{i:03d}" for i in range(1, 11)])
    p.add_argument("--variants", nargs="+", default=["binary", "gate"],
                   choices=["binary", "gate", "fgsft-gate", "3class"])
    p.add_argument("--grid", default="fast")
    p.add_argument("--guard", type=float, default=1.0, help="rest guard, s (--rest-guard)")
    p.add_argument("--cache", type=Path, default=ROOT / "build" / "selfpaced_traces")
    p.add_argument("--train-only", action="store_true", help="fill the cache, score nothing")
    p.add_argument("--policies", nargs="+", help="only the policies whose name contains one "
                                                 "of these")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    t0 = time.time()
    results: dict = {}
    curves: dict = {}
    loso = "cross-subject setting (leave-one-subject-out), target 1"
    for subject in args.subjects:
        for v in args.variants:
            tr = traces(subject, v, args.grid, args.guard, args.cache)
            print(f"[{time.time() - t0:6.0f}s] {subject} {v} traces ready", flush=True)
            if args.train_only:
                continue
            if not args.policies or any(k in loso for k in args.policies):
                curves.setdefault(v, {})[subject] = test_curve(tr, v)
            for name, (refr, smooth, frac) in POLICIES.items():
                if args.policies and not any(k in name for k in args.policies):
                    continue
                folds = evaluate(tr, v, refr, smooth, frac, name.startswith("oracle"))
                results.setdefault(name, {}).setdefault(subject, {})[v] = {
                    "pooled": pooled(folds), "points": [f["point"] for f in folds]}
    for v, by_subject in curves.items():
        for subject, r in cross_subject(by_subject).items():
            results.setdefault(loso, {}).setdefault(subject, {})[v] = r
    for name, res in results.items():
        print(f"\n### {name}\n")
        print(_table(res, args.variants))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


def _table(results: dict, variants: list[str]) -> str:
    from benchmarks.selfpaced import table

    return table(results, variants)


if __name__ == "__main__":
    sys.exit(main())
