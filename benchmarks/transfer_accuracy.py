"""Transfer and automatic choice on eegmmidb left/right: every method, the same splits.

The 24 left/right subjects in ``../shared/data`` (S001-S023: runs 4, 8, 12; S024: two runs),
leave-one-run-out, analysed window 0.5-2.5 s after the cue (``benchmarks/fgsft_accuracy.py``'s
splits and window). For each held-out run every method is trained on the subject's other runs:

* ``csp_lda`` / ``ts_lr``: the peers (MNE CSP+LDA, pyRiemann tangent space + LR, 8-30 Hz);
* the candidates of ``mi-export auto`` (:mod:`export.auto_candidates`): ``fgsft`` (fast grid),
  ``riemann``, ``riemann_fb``, and the pooled ones, whose pool is the subjects of the *other*
  ``--groups`` (2: S001-S012 and S013-S024; all their runs): ``riemann_pooled`` (re-centered
  pool + the target's trials), ``stffda_pooled`` / ``eegnet_pooled_ea`` (one base net per
  group, trained on the other group, fine-tuned on the target's training runs);
* ``auto``: per held-out run, the candidate with the best inner cross-validation on the
  training runs (leave-one-run-out among them: :func:`export.auto.score_candidate`, the
  ranking ``mi-export auto`` writes), scored on the held-out run. Every candidate's inner score
  and test result are cached, so ``auto`` is exactly the choice ``mi-export auto`` makes with
  those candidates, without training twice.

The held-out run is never seen by a method trained for it, nor by any pooled part (the pool
never contains the target subject). Results are cached per (subject, fold, method) in
``--cache`` (resumable: a rerun only trains what is missing).

    nice -n 10 python benchmarks/transfer_accuracy.py            # the README table
    nice -n 10 python benchmarks/transfer_accuracy.py --methods stffda_pooled \
        --subjects S001 S002 S003 S004                             # its net column
    [--subjects ...] [--methods ...] [--auto-from ...] [--json out.json] [--report-only]

Several processes may share one ``--cache`` (e.g. one per half of the subjects).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# one BLAS thread: on two shared cores a multi-threaded eigh of 64 x 64 matrices ran 25x slower
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from export.auto import rank, score_candidate  # noqa: E402
from export.auto_candidates import NET_MARGIN_S, crop, default_candidates  # noqa: E402
from export.data import EpochSet, load_epochs  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"
WINDOW = (0.5, 2.5)
ALL = [f"S{i:03d}" for i in range(1, 25)]
PEERS = ("csp_lda", "ts_lr")
CANDIDATES = ("fgsft", "riemann", "riemann_fb", "riemann_pooled", "stffda_pooled",
              "eegnet_pooled_ea")
#: auto's candidates in the README table
AUTO_FROM = ("fgsft", "riemann", "riemann_pooled")
POOLED = ("riemann_pooled", "stffda_pooled", "eegnet_pooled_ea")
NETS = ("stffda_pooled", "eegnet_pooled_ea")


T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.0f}s] {msg}", file=sys.stderr, flush=True)


class Data:
    """Wide epochs (the nets' margin on each side) of every subject, loaded once."""

    def __init__(self, subjects: list[str]):
        self.eps: dict[str, EpochSet] = {}
        self.subjects = subjects

    def __getitem__(self, s: str) -> EpochSet:
        if s not in self.eps:
            self.eps[s] = load_epochs([SHARED / f"{s}_imagery_left_right.npz"],
                                      window=(WINDOW[0] - NET_MARGIN_S, WINDOW[1] + NET_MARGIN_S))
        return self.eps[s]


def memoize_reference_means() -> None:
    """The pooled Riemannian model recomputes every pool subject's reference mean (the same
    trials every time) in each of a target's 9 fits; remember unweighted means by the bytes of
    their covariances (a pure function: results are identical, only faster)."""
    import hashlib

    import export.riemann as riemann

    original = riemann.reference_mean
    memo: dict = {}

    def cached(covs, metric="riemann", weights=None, **kw):
        if weights is not None:
            return original(covs, metric, weights=weights, **kw)
        key = (hashlib.sha1(np.ascontiguousarray(covs).tobytes()).hexdigest(), metric,
               tuple(sorted(kw.items())))
        if key not in memo:
            memo[key] = original(covs, metric, **kw)
        return memo[key].copy()

    riemann.reference_mean = cached


def groups_of(subjects: list[str], k: int) -> dict[str, int]:
    return {s: i * k // len(subjects) for i, s in enumerate(subjects)}


class Cache:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, subject: str, fold: int, method: str) -> Path:
        return self.root / f"{subject}_run{fold:02d}_{method}.json"

    def get(self, subject: str, fold: int, method: str) -> dict | None:
        p = self.path(subject, fold, method)
        return json.loads(p.read_text()) if p.exists() else None

    def put(self, subject: str, fold: int, method: str, row: dict) -> None:
        p = self.path(subject, fold, method)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(row))
        tmp.replace(p)


def peer_rows(ep: EpochSet, test: int) -> dict[str, dict]:
    from fgsft_accuracy import peers

    from edge.filterbank import bandpass

    narrow = crop(ep, WINDOW)
    x = bandpass(narrow.X, 8.0, 30.0, narrow.sfreq)
    tr, te = ep.runs != test, ep.runs == test
    out = {}
    for name, make in peers().items():
        t = time.perf_counter()
        model = make().fit(x[tr], ep.y[tr])
        out[name] = {"correct": int(np.sum(model.predict(x[te]) == ep.y[te])),
                     "n": int(te.sum()), "train_s": time.perf_counter() - t}
    return out


class Pools:
    """The pooled candidates' pools: the subjects are cut into ``n_groups`` groups of
    consecutive subjects, and a target's pool is every subject of the *other* groups (never the
    target); a net's pooled base is trained once per group and saved in the cache directory."""

    def __init__(self, data: Data, subjects: list[str], n_groups: int, cache: Path):
        self.data, self.subjects, self.cache = data, subjects, cache
        self.group = groups_of(subjects, n_groups)
        self.bases: dict[int, object] = {}

    def pool(self, target: str) -> list[EpochSet]:
        g = self.group[target]
        return [self.data[s] for s in self.subjects if self.group[s] != g]

    def net_base(self, target: str, cand) -> object:
        import torch

        g = self.group[target]
        if g in self.bases:
            return self.bases[g]
        path = self.cache / f"{cand.name}_base_group{g}_of{len(set(self.group.values()))}.pt"
        if path.exists():
            self.bases[g] = torch.load(path, weights_only=False)
        else:
            t = time.perf_counter()
            cand.prepare(say)
            self.bases[g] = cand.base_
            torch.save(cand.base_, path)
            say(f"pooled {cand.name} base for group {g} ({len(cand.pool)} subjects): "
                f"{time.perf_counter() - t:.0f} s")
        return self.bases[g]


def candidate(method: str, target: str, pools: Pools, grid: str):
    pool = []
    if method in POOLED:
        pool = pools.pool(target)
    (cand,) = default_candidates(WINDOW, pool, [method], fgsft_grid=grid)
    if method in NETS:
        cand.base_ = pools.net_base(target, cand)
    return cand


def run_method(cand, ep: EpochSet, test: int) -> dict:
    tr, te = ep.subset(ep.runs != test), ep.subset(ep.runs == test)
    t = time.perf_counter()
    cv = score_candidate(cand, tr, lambda m: None)
    t_cv = time.perf_counter() - t
    t = time.perf_counter()
    model = cand.fit(tr, lambda m: None)
    t_fit = time.perf_counter() - t
    p = cand.predict_proba(model, te)
    return {"correct": int(np.sum(p.argmax(1) == te.y)), "n": len(te.y),
            "cv_accuracy": cv["cv_accuracy"], "cv_loglik": cv["cv_loglik"],
            "train_s": t_fit, "cv_s": t_cv}


def run_subject(s: str, args, data: Data, pools: Pools, cache: Cache) -> None:
    ep = data[s]
    for test in np.unique(ep.runs).tolist():
        if any(cache.get(s, test, m) is None for m in PEERS) and "peers" in args.methods:
            for name, row in peer_rows(ep, test).items():
                cache.put(s, test, name, row)
        for m in args.methods:
            if m == "peers" or cache.get(s, test, m) is not None:
                continue
            row = run_method(candidate(m, s, pools, args.grid), ep, test)
            cache.put(s, test, m, row)
            say(f"{s} run {test} {m}: test {row['correct']}/{row['n']}, inner CV "
                f"{row['cv_accuracy']:.3f}, fit {row['train_s']:.1f} s + CV {row['cv_s']:.1f} s")


def collect(subjects: list[str], cache: Cache, auto_from: list[str], data: Data) -> list[dict]:
    """Per subject: accuracy of every cached method over all its folds (None if any fold is
    missing), and ``auto`` (the best inner CV among ``auto_from``, per fold)."""
    rows = []
    for s in subjects:
        runs = np.unique(data[s].runs).tolist()
        row: dict = {"subject": s, "n": 0, "auto_picks": []}
        for m in PEERS + CANDIDATES + ("auto",):
            folds = []
            for test in runs:
                if m == "auto":
                    got = [cache.get(s, test, c) for c in auto_from]
                    if any(g is None for g in got):
                        folds = None
                        break
                    best = rank([{"cv_accuracy": g["cv_accuracy"], "cv_loglik": g["cv_loglik"],
                                  "name": c} for g, c in zip(got, auto_from, strict=True)])[0]
                    row["auto_picks"].append(best["name"])
                    # its cost: every candidate's inner CV and final fit (mi-export auto
                    # writing them all)
                    cost = sum(g.get("train_s", 0) + g.get("cv_s", 0) for g in got)
                    folds.append(got[auto_from.index(best["name"])] | {"cost_s": cost})
                else:
                    f = cache.get(s, test, m)
                    if f is None:
                        folds = None
                        break
                    folds.append(f)
            if folds:
                row[m] = sum(f["correct"] for f in folds) / sum(f["n"] for f in folds)
                row[m + "_cost_s"] = sum(f.get("cost_s", f.get("train_s", 0) + f.get("cv_s", 0))
                                         for f in folds) / len(folds)
                row["n"] = sum(f["n"] for f in folds)
        rows.append(row)
    return rows


def paired(rows: list[dict], a: str, b: str) -> dict | None:
    from scipy.stats import wilcoxon

    pairs = [(r[a], r[b]) for r in rows if a in r and b in r]
    if len(pairs) < 2:
        return None
    d = np.array([x - y for x, y in pairs])
    p = float(wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    return {"n": len(d), "wins": int(np.sum(d > 0)), "losses": int(np.sum(d < 0)),
            "ties": int(np.sum(d == 0)), "mean_diff": float(d.mean()), "wilcoxon_p": p}


def table(rows: list[dict], auto_from: list[str]) -> str:
    cols = [c for c in PEERS + CANDIDATES + ("auto",) if any(c in r for r in rows)]
    lines = ["| subject | trials | " + " | ".join(cols) + " | auto picks |",
             "|---|---:|" + "---:|" * len(cols) + "---|"]
    for r in rows:
        cells = [f"{r[c]:.3f}" if c in r else "-" for c in cols]
        picks = ", ".join(r["auto_picks"]) if "auto" in r else ""
        lines.append(f"| {r['subject']} | {r['n']} | " + " | ".join(cells) + f" | {picks} |")
    need = [c for c in PEERS + tuple(auto_from) + ("auto",) if c in cols]
    full = [r for r in rows if all(c in r for c in need)]
    if full:
        means = [f"**{np.mean([r[c] for r in full]):.3f}**"
                 if all(c in r for r in full) else "" for c in cols]
        lines.append(f"| mean ({len(full)} subjects with auto and its candidates) | | "
                     + " | ".join(means) + " | |")
    for c in cols:
        have = [r[c] for r in rows if c in r]
        if len(have) != len(full):
            lines.append(f"| mean of {c} over its {len(have)} subjects | | "
                         + " | ".join(f"{np.mean(have):.3f}" if k == c else "" for k in cols)
                         + " | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", nargs="+", default=ALL)
    ap.add_argument("--methods", nargs="+", default=["peers", *AUTO_FROM],
                    help=f"peers and/or candidates ({', '.join(CANDIDATES)}) to train (cached "
                         "ones are reused)")
    ap.add_argument("--auto-from", nargs="+", default=list(AUTO_FROM),
                    help="the candidates auto chooses between (default: the README table's)")
    ap.add_argument("--groups", type=int, default=2,
                    help="subject groups: a target's pool is the other groups' subjects (2)")
    ap.add_argument("--grid", default="fast", help="FGSFT grid (fast)")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "transfer_cache")
    ap.add_argument("--report-only", action="store_true", help="print the table from the cache")
    ap.add_argument("--json", type=Path, help="write the rows and comparisons here")
    args = ap.parse_args(argv)
    if not SHARED.is_dir():
        print(f"benchmark data not found at {SHARED}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    memoize_reference_means()
    cache = Cache(args.cache)
    data = Data(args.subjects)
    pools = Pools(data, ALL, args.groups, args.cache)
    if not args.report_only:
        for s in args.subjects:
            run_subject(s, args, data, pools, cache)
    rows = collect(args.subjects, cache, args.auto_from, data)
    print(f"leave-one-run-out accuracy, eegmmidb left/right, window {WINDOW[0]}-{WINDOW[1]} s; "
          f"auto chooses among {', '.join(args.auto_from)} by inner CV on the training runs")
    print(table(rows, args.auto_from))
    comps = {f"auto_vs_{b}": paired(rows, "auto", b) for b in ("ts_lr", "csp_lda")}
    for k, v in comps.items():
        if v:
            print(f"{k}: {v['wins']} wins, {v['losses']} losses, {v['ties']} ties of {v['n']}; "
                  f"mean difference {v['mean_diff']:+.3f}, Wilcoxon p {v['wilcoxon_p']:.3g}")
    costs = [r["auto_cost_s"] for r in rows if "auto_cost_s" in r]
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "paired": comps, "auto_from":
                                         args.auto_from, "groups": args.groups}, indent=1))
    if costs:
        print(f"auto's training cost per subject (one training set: every candidate's inner CV "
              f"+ final fit, the pooled nets' base not included): mean {np.mean(costs):.0f} s, "
              f"max {np.max(costs):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
