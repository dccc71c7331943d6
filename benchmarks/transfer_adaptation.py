"""``auto`` with the runtime's unsupervised re-centering on the held-out run (issue 13).

The transfer table (``benchmarks/transfer_accuracy.py``) scores every decoder with the
calibration reference only. The ``riemann`` decoders the runtime runs can also follow the
wearer (``mi-edge run --adapt-horizon S``: a running mean of the covariances of the windows
decoded so far, no labels). This script replays each held-out run's trials *in recording
order* through the edge's own :class:`edge.decoders.riemann.RiemannDecoder` with adaptation on
(each trial folded into the reference, then decoded; the calibration reference until the
online one is ready), for the same splits, the same trained models and the same ``auto`` picks
(read from the transfer cache, so the choice is exactly the table's):

* ``causal``: the online reference with a horizon of ``--horizon`` trials (8: about the 60 s
  of the online-adaptation table, one trial every ~8 s), what the device can do;
* ``own run``: every trial re-centered to the Riemannian mean of the whole held-out run
  (transductive: it uses later trials too; the value the online reference tends to).

FGSFT has no reference to adapt: where ``auto`` picked it, its cached result is used. Only task
windows feed the reference here (the runtime also folds in the rest between cues); the
continuous replay is ``benchmarks/online_adaptation.py``.

    nice -n 10 python benchmarks/transfer_adaptation.py [--subjects ...] [--horizon 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import transfer_accuracy as ta  # noqa: E402  (sets one BLAS thread before numpy work)

from export.auto import rank  # noqa: E402
from export.auto_candidates import RiemannCandidate, crop  # noqa: E402

ADAPTIVE = ("riemann", "riemann_pooled")
MODES = ("calibration", "causal", "own run")
RANKED = "auto causal, ranked causal"


def causal_proba(model, X: np.ndarray, horizon: float) -> np.ndarray:
    """The edge decoder's probabilities for trials ``X`` in order, adaptation on."""
    from edge.decoders.riemann import RiemannDecoder

    dec = RiemannDecoder("r", model.model_, [str(c) for c in model.classes_], ta.WINDOW[0])
    dec.set_adaptation(horizon, 1.0)  # one "window" per trial: the horizon in trials
    return dec.predict_proba(X)


@dataclass
class CausalRiemann(RiemannCandidate):
    """A Riemannian candidate whose probabilities are the edge decoder's with adaptation on."""

    horizon_trials: float = 8.0

    def predict_proba(self, model, ep) -> np.ndarray:
        return causal_proba(model, crop(ep, self.window).X, self.horizon_trials)


def replay(model, test, horizon: float) -> dict[str, int]:
    """Correct decisions on the held-out trials (in order) under each reference mode."""
    from edge.alignment import reference_mean, whitener

    X = crop(test, ta.WINDOW).X
    rm = model.model_
    covs = rm.band_covariances(X)
    own = np.stack([whitener(reference_mean(c, rm.metric)) for c in covs])
    out = {"calibration": rm.proba(rm.features(covs)), "causal": causal_proba(model, X, horizon),
           "own run": rm.proba(rm.features(covs, own))}
    return {m: int(np.sum(p.argmax(1) == test.y)) for m, p in out.items()}


def inner_causal(s: str, test: int, method: str, data, pools, cache: ta.Cache,
                 horizon: float, grid: str) -> dict:
    """``auto``'s inner cross-validation (:func:`export.auto.score_candidate` on the training
    runs) with each validation run replayed as the device would run it: adaptation on."""
    from dataclasses import fields

    from export.auto import score_candidate

    key = f"adaptcv{horizon:g}_{method}"
    got = cache.get(s, test, key)
    if got is not None:
        return got
    ep = data[s]
    cand = ta.candidate(method, s, pools, grid)
    causal = CausalRiemann(**{f.name: getattr(cand, f.name) for f in fields(cand)},
                           horizon_trials=horizon)
    scores = score_candidate(causal, ep.subset(ep.runs != test), lambda m: None)
    row = {k: scores[k] for k in ("cv_accuracy", "cv_loglik")}
    cache.put(s, test, key, row)
    return row


def run_fold(s: str, test: int, method: str, data, pools, cache: ta.Cache, horizon: float,
             grid: str) -> dict:
    key = f"adapt{horizon:g}_{method}"
    got = cache.get(s, test, key)
    if got is not None:
        return got
    ep = data[s]
    tr, te = ep.subset(ep.runs != test), ep.subset(ep.runs == test)
    cand = ta.candidate(method, s, pools, grid)
    t = time.perf_counter()
    model = cand.fit(tr, lambda m: None)
    row = {**replay(model, te, horizon), "n": len(te.y), "fit_s": time.perf_counter() - t}
    cache.put(s, test, key, row)
    return row


def subject_rows(s: str, data, pools, cache: ta.Cache, horizon: float, grid: str,
                 ranked: bool) -> dict:
    """Per subject: accuracy of riemann and riemann_pooled under each mode, and of auto (its
    cached pick per fold; FGSFT picks unchanged)."""
    runs = np.unique(data[s].runs).tolist()
    picks = ta.collect([s], cache, list(ta.AUTO_FROM), data)[0]["auto_picks"]
    if len(picks) != len(runs):
        raise SystemExit(f"{s}: the transfer cache lacks auto's candidates; run "
                         "benchmarks/transfer_accuracy.py first")
    hits = {f"{m} {mode}": 0 for m in (*ADAPTIVE, "auto") for mode in MODES}
    hits[RANKED] = 0
    n, ranked_picks = 0, []
    for test, pick in zip(runs, picks, strict=True):
        rows = {m: run_fold(s, test, m, data, pools, cache, horizon, grid) for m in ADAPTIVE}
        for m in ADAPTIVE:
            for mode in MODES:
                hits[f"{m} {mode}"] += rows[m][mode]
        for mode in MODES:
            hits[f"auto {mode}"] += (rows[pick][mode] if pick in ADAPTIVE
                                     else cache.get(s, test, pick)["correct"])
        if ranked:  # auto ranking the adaptive candidates as they will run: adaptation on
            scores = [{"name": m, **(inner_causal(s, test, m, data, pools, cache, horizon, grid)
                                     if m in ADAPTIVE else cache.get(s, test, m))}
                      for m in ta.AUTO_FROM]
            best = rank(scores)[0]["name"]
            ranked_picks.append(best)
            hits[RANKED] += (rows[best]["causal"] if best in ADAPTIVE
                             else cache.get(s, test, best)["correct"])
        n += rows[ADAPTIVE[0]]["n"]
        ta.say(f"{s} run {test}: auto picked {pick}; " + ", ".join(
            f"{m} {rows[m]['calibration']}/{rows[m]['causal']}/{rows[m]['own run']}"
            for m in ADAPTIVE) + f" of {rows[ADAPTIVE[0]]['n']} (calibration/causal/own run)")
    if not ranked:
        del hits[RANKED]
    return {"subject": s, "n": n, "ranked_picks": ranked_picks,
            **{k: v / n for k, v in hits.items()}}


def main(argv: list[str] | None = None) -> int:
    from scipy.stats import wilcoxon

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", nargs="+", default=ta.ALL)
    ap.add_argument("--horizon", type=float, default=8.0,
                    help="online reference horizon, in trials (8, about 60 s)")
    ap.add_argument("--grid", default="fast")
    ap.add_argument("--ranked", action="store_true",
                    help="also auto with its inner CV replayed with adaptation on (the "
                         "adaptive candidates' inner folds are retrained: ~20 s per fold)")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "transfer_cache")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not ta.SHARED.is_dir():
        print(f"benchmark data not found at {ta.SHARED}", file=sys.stderr)
        return 2
    ta.memoize_reference_means()
    cache = ta.Cache(args.cache)
    data = ta.Data(ta.ALL)
    pools = ta.Pools(data, ta.ALL, 2, args.cache)
    rows = [subject_rows(s, data, pools, cache, args.horizon, args.grid, args.ranked)
            for s in args.subjects]
    cols = [f"{m} {mode}" for m in (*ADAPTIVE, "auto") for mode in MODES] + \
        ([RANKED] if args.ranked else [])
    print(f"held-out trials replayed in order; causal horizon {args.horizon:g} trials")
    print("| subject | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for r in rows:
        print(f"| {r['subject']} | " + " | ".join(f"{r[c]:.3f}" for c in cols) + " |")
    print(f"| **mean ({len(rows)})** | " + " | ".join(
        f"**{np.mean([r[c] for r in rows]):.3f}**" for c in cols) + " |")
    if args.ranked:
        picks = [p for r in rows for p in r["ranked_picks"]]
        print("ranked with adaptation on, auto picked: " + ", ".join(
            f"{m} {picks.count(m)}" for m in ta.AUTO_FROM) + f" of {len(picks)} folds")
    ts = {r["subject"]: r for r in ta.collect(args.subjects, cache, list(ta.AUTO_FROM), data)}
    comps = {}
    for mode in MODES + ((RANKED[5:],) if args.ranked else ()):
        d = np.array([r[f"auto {mode}"] - ts[r["subject"]]["ts_lr"] for r in rows])
        p = float(wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
        comps[mode] = {"mean_diff": float(d.mean()), "wins": int(np.sum(d > 0)),
                       "losses": int(np.sum(d < 0)), "ties": int(np.sum(d == 0)),
                       "wilcoxon_p": p}
        print(f"auto {mode} vs ts_lr: {comps[mode]['wins']} wins, {comps[mode]['losses']} "
              f"losses, {comps[mode]['ties']} ties; mean difference {d.mean():+.3f}, "
              f"Wilcoxon p {p:.3g}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "vs_ts_lr": comps,
                                         "horizon_trials": args.horizon}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
