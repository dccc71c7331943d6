"""Leave-one-run-out accuracy of STAFNet, its ablations, EEGNet, STFF-DA, FGSFT and the peers
(issue 14), on the splits of ``benchmarks/stffda_accuracy.py``.

For every subject given (eegmmidb left/right imagery in ``../shared/data``, 3 runs of 15
trials, 64 channels at 160 Hz, window 0.5-2.5 s, band 4-40 Hz), each run is held out in turn
and every method is fitted on the other two runs only:

* ``stafnet`` and its ablations (:data:`export.stafnet.config.ABLATIONS` plus ``graph_l6``, the
  paper's six graph layers): a fixed number of epochs (``--epochs``, the paper trains a fixed
  30 per fold), AdamW lr 3e-3, weight decay 1e-2; ``stafnet_int8``: the full net's ONNX Runtime
  dynamic int8 export on the same windows (decision agreement with its fp32 ONNX is recorded);
* ``stffda``: the README's STFF-DA recipe (early stopping on the last training run, refit);
  ``eegnet``: EEGNet-8,2 with the same recipe (``export.nets``);
* ``pooled_loso``: one STAFNet trained on the *other* subjects of ``--pool`` (default: the other
  subjects of this run), applied to the held-out run with the subject's own scale;
  ``pooled_ft``: that net fine-tuned on the subject's two training runs;
* ``fgsft`` (fast grid), ``csp_lda``, ``ts_lr``: ``benchmarks/fgsft_accuracy.py`` on the same
  splits.

Every (subject, fold, method) result is cached in ``--cache/<subject>.json`` as soon as it is
known, so an interrupted run resumes where it stopped, and several processes can share the work
by subject. ``--table-only`` prints the table from the cache.

Usage::

    nice -n 10 python benchmarks/nets_accuracy.py --threads 1 --subjects S001 S002 S007 S015
    python benchmarks/nets_accuracy.py --table-only --subjects S001 S002 S007 S015
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _nets_table import ABLATION_ROWS, print_tables  # noqa: E402
from stffda_accuracy import WINDOW, _file  # noqa: E402

from export.commands.netcmd import DEFAULT_BAND  # noqa: E402

STAFNET_VARIANTS = ["stafnet", "no_graph", "no_temporal", "static_pli", "static_corr",
                    "fusion_add", "fusion_concat", "graph_l6"]
OTHER_NETS = ["stffda", "eegnet"]
Say = Callable[[str], None]


class Cache:
    """Per-subject JSON of ``{"fold<run>": {method: {...}}, "subject": {method: ...}}``."""

    def __init__(self, root: Path, subject: str):
        self.path = root / f"{subject}.json"
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key: str, method: str) -> dict | None:
        return self.data.get(key, {}).get(method)

    def put(self, key: str, method: str, value: dict) -> None:
        self.data.setdefault(key, {})[method] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)


def _wide(subject: str, shift: float):
    from export.data import load_epochs

    return load_epochs([_file(subject)], window=(WINDOW[0] - shift, WINDOW[1] + shift))


def _stafnet_cfg(ep, n: int, name: str):
    from export.stafnet.config import STAFNetConfig, variant

    base = STAFNetConfig.for_data(len(ep.ch_names), n, len(ep.class_names), ep.sfreq,
                                  ep.ch_names)
    if name == "graph_l6":
        return base.with_(n_graph_layers=6)
    return variant(base, name)


def _tc(args, **kw):
    from export.nets.train import TrainConfig

    return TrainConfig(seed=args.seed, threads=args.threads, **kw)


def _score(p: np.ndarray, y: np.ndarray) -> dict:
    return {"correct": int(np.sum(p.argmax(1) == y)), "n": int(len(y))}


def _int8(trained, xt: np.ndarray, y: np.ndarray) -> dict:
    from export.nets.onnx_export import export_onnx
    from export.nets.quantize import quantize_onnx, run_onnx

    fp32 = export_onnx(trained.net, form=trained.net.export_form())
    q = quantize_onnx(fp32, "dynamic")
    p32, p8 = run_onnx(fp32, xt), run_onnx(q, xt)
    return {**_score(p8, y), "fp32_correct": int(np.sum(p32.argmax(1) == y)),
            "agree": int(np.sum(p32.argmax(1) == p8.argmax(1))),
            "max_dev": float(np.max(np.abs(p32 - p8))), "bytes_fp32": len(fp32),
            "bytes_int8": len(q)}


def _net_fold(method: str, tr, te, n: int, margin: int, args) -> dict:
    """Train one net on ``tr`` and score the held-out run ``te``."""
    from export.nets.train import predict_proba, train

    t0 = time.perf_counter()
    if method in OTHER_NETS:
        if method == "stffda":
            from export.stffda.model import STFFDAConfig

            cfg: Any = STFFDAConfig(len(tr.ch_names), n,
                                    kernel_size=int(round(0.15 * tr.sfreq)) | 1)
        else:
            from export.nets.eegnet import EEGNetConfig, temporal_kernel

            cfg = EEGNetConfig(len(tr.ch_names), n, kernel_size=temporal_kernel(tr.sfreq))
        m = train(tr, cfg, _tc(args), band=DEFAULT_BAND)
    else:
        m = train(tr, _stafnet_cfg(tr, n, method),
                  _tc(args, max_epochs=args.epochs, lr=args.lr, early_stopping=False),
                  band=DEFAULT_BAND)
    xt = m.prep(te.X[..., margin:margin + n]).astype(np.float32)
    out = {**_score(predict_proba(m.net, xt), te.y), "epochs": m.history.get("epochs"),
           "seconds": round(time.perf_counter() - t0, 1)}
    if method == "stafnet":
        out["int8"] = _int8(m, xt, te.y)
    return out


def _pooled(subject: str, args, ep, n: int, margin: int, cache: Cache, say: Say) -> None:
    from export.nets.train import finetune, fit_scale, predict_proba, train_pooled

    folds = [int(r) for r in np.unique(ep.runs)]
    if all(cache.get(f"fold{r}", k) for r in folds for k in ("pooled_loso", "pooled_ft")):
        return
    pool = [s for s in (args.pool or args.subjects) if s != subject]
    if not pool:
        say(f"{subject}: no other subject to pool, pooled columns left empty")
        return
    t0 = time.perf_counter()
    eps = [_wide(s, args.crop_shift) for s in pool]
    base = train_pooled(eps, _stafnet_cfg(ep, n, "stafnet"),
                        _tc(args, max_epochs=args.pool_epochs, lr=args.lr, batch_size=32,
                            early_stopping=False), band=DEFAULT_BAND)
    say(f"{subject}: pooled STAFNet on {len(pool)} subjects ({' '.join(pool)}), "
        f"{time.perf_counter() - t0:.0f} s")
    for r in folds:
        tr, te = ep.subset(ep.runs != r), ep.subset(ep.runs == r)
        prep = fit_scale(tr, n, *DEFAULT_BAND)
        p = predict_proba(base.net, prep(te.X[..., margin:margin + n]).astype(np.float32))
        cache.put(f"fold{r}", "pooled_loso", {**_score(p, te.y), "pool": pool})
        ft = finetune(base, tr, _tc(args, max_epochs=args.ft_epochs, lr=args.lr,
                                    early_stopping=False))
        p = predict_proba(ft.net, ft.prep(te.X[..., margin:margin + n]).astype(np.float32))
        cache.put(f"fold{r}", "pooled_ft", {**_score(p, te.y), "pool": pool})
        say(f"{subject}: run {r} pooled {cache.get(f'fold{r}', 'pooled_loso')['correct']}/15,"
            f" fine-tuned {cache.get(f'fold{r}', 'pooled_ft')['correct']}/15")


def run_subject(subject: str, args, say: Say) -> None:
    cache = Cache(args.cache, subject)
    ep = _wide(subject, args.crop_shift)
    n = int(round((WINDOW[1] - WINDOW[0]) * ep.sfreq))
    margin = (ep.n_samples - n) // 2
    if args.peers and not cache.get("subject", "peers"):
        from fgsft_accuracy import run_subject as peer_subject

        t0 = time.perf_counter()
        r = peer_subject(_file(subject), WINDOW, args.grid, 1)
        cache.put("subject", "peers", {k: r[k] for k in ("fgsft", "csp_lda", "ts_lr")}
                  | {"n": int(len(ep.y)), "seconds": round(time.perf_counter() - t0, 1)})
        say(f"{subject}: peers {cache.get('subject', 'peers')}")
    for r in np.unique(ep.runs):
        key = f"fold{int(r)}"
        tr, te = ep.subset(ep.runs != r), ep.subset(ep.runs == r)
        for method in args.methods:
            if cache.get(key, method):
                continue
            res = _net_fold(method, tr, te, n, margin, args)
            cache.put(key, method, res)
            say(f"{subject} run {int(r)} {method}: {res['correct']}/{res['n']} "
                f"({res['seconds']:.0f} s)")
    if args.pooled:
        _pooled(subject, args, ep, n, margin, cache, say)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", nargs="+", default=["S001", "S002", "S007", "S015"])
    ap.add_argument("--methods", nargs="+",
                    default=[m for m in STAFNET_VARIANTS if m != "static_corr"] + OTHER_NETS,
                    help="nets to train per fold (STAFNet variants, stffda, eegnet; default "
                         "all but static_corr)")
    ap.add_argument("--pool", nargs="+", help="subjects to pool (default: --subjects)")
    ap.add_argument("--epochs", type=int, default=40, help="STAFNet epochs per fold (40)")
    ap.add_argument("--pool-epochs", type=int, default=20, help="pooled STAFNet epochs (20)")
    ap.add_argument("--ft-epochs", type=int, default=20, help="fine-tuning epochs (20)")
    ap.add_argument("--lr", type=float, default=3e-3, help="STAFNet learning rate (3e-3)")
    ap.add_argument("--crop-shift", type=float, default=0.25)
    ap.add_argument("--grid", default="fast", help="FGSFT grid for the peers (fast)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument("--no-pooled", dest="pooled", action="store_false")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "results" / "nets_accuracy")
    ap.add_argument("--table-only", action="store_true", help="print the table from the cache")
    args = ap.parse_args(argv)
    bad = [m for m in args.methods if m not in STAFNET_VARIANTS + OTHER_NETS]
    if bad:
        ap.error(f"unknown methods {bad}: choose from {STAFNET_VARIANTS + OTHER_NETS}")
    start = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f}s] {msg}", file=sys.stderr, flush=True)

    if not args.table_only:
        import torch

        torch.set_num_threads(args.threads)
        for s in args.subjects:
            run_subject(s, args, say)
    cols = [c for c in ABLATION_ROWS if c in args.methods] + [
        m for m in args.methods if m not in ABLATION_ROWS] + ["stafnet_int8"]
    if args.pooled:
        cols += ["pooled_loso", "pooled_ft"]
    if args.peers:
        cols += ["fgsft", "csp_lda", "ts_lr"]
    print_tables([Cache(args.cache, s).data for s in args.subjects], args.subjects, cols,
                 header=f"leave-one-run-out accuracy, eegmmidb left/right, {WINDOW[0]}-"
                        f"{WINDOW[1]} s, band {DEFAULT_BAND[0]:g}-{DEFAULT_BAND[1]:g} Hz, "
                        f"seed {args.seed}, STAFNet {args.epochs} epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
