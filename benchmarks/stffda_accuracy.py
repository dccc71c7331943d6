"""Leave-one-run-out accuracy of STFF-DA and its exports, ablations, pooling, and the peers.

For every subject given (eegmmidb left/right imagery in ``../shared/data``, 3 runs of 15
trials), each run is held out in turn; everything below is fitted on the other two runs only:

* ``stffda_torch`` / ``onnx_fp32`` / ``onnx_int8`` / ``tflite_int8``: the default net (1D front
  end, attention) and its three exports, run on the same held-out windows;
* ``stffda_2d``: the EEGNet-style 2D front end; ``stffda_noattn``: attention off;
* ``pooled_loso``: one net trained on the *other* subjects (every run; ``--pool``), applied to
  the held-out run (its scale fitted on the subject's training runs, no labels);
  ``pooled_ft``: that net fine-tuned on the subject's two training runs;
* ``fgsft`` / ``csp_lda`` / ``ts_lr``: ``benchmarks/fgsft_accuracy.py`` on the same splits.

Also aggregated over all held-out windows: int8-vs-fp32 decision agreement and max posterior
deviation, and model sizes.

Usage::

    python benchmarks/stffda_accuracy.py --subjects S001 S002 S007 S015 [--json out.json]
        [--grid fast] [--no-peers] [--no-pooled]

TFLite columns need the ``litert`` extra (otherwise they are left empty).
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from export.commands.stffda import DEFAULT_BAND  # noqa: E402
from export.data import load_epochs  # noqa: E402
from export.stffda.model import STFFDAConfig  # noqa: E402
from export.stffda.onnx_export import export_onnx  # noqa: E402
from export.stffda.quantize import quantize_onnx, run_onnx  # noqa: E402
from export.stffda.tflite_export import litert_available  # noqa: E402
from export.stffda.train import (  # noqa: E402
    TrainConfig,
    epochs_to_crops,
    finetune,
    fit_scale,
    predict_proba,
    train_pooled,
    train_stffda,
)

SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"
WINDOW = (0.5, 2.5)
ALL = [f"S{i:03d}" for i in range(1, 25)]
COLS = ["stffda_torch", "onnx_fp32", "onnx_int8", "tflite_int8", "tflite_full8", "stffda_2d",
        "stffda_noattn", "pooled_loso", "pooled_ft", "fgsft", "csp_lda", "ts_lr"]


def _file(s: str) -> Path:
    return SHARED / f"{s}_imagery_left_right.npz"


def _wide(s: str, tc: TrainConfig):
    return load_epochs([_file(s)], window=(WINDOW[0] - tc.crop_shift, WINDOW[1] + tc.crop_shift))


def run_subject(subject: str, args, say) -> dict:
    tc = TrainConfig(seed=args.seed)
    ep = _wide(subject, tc)
    n = int(round((WINDOW[1] - WINDOW[0]) * ep.sfreq))
    margin = (ep.n_samples - n) // 2
    base = STFFDAConfig(len(ep.ch_names), n, kernel_size=int(round(0.15 * ep.sfreq)) | 1)
    variants = {"stffda_torch": base, "stffda_2d": base.with_(front_end="2d"),
                "stffda_noattn": base.with_(attention=False)}
    tfl = args.tflite and litert_available() is None
    correct = {c: 0 for c in COLS}
    quant = {"p_fp32": [], "p_int8": [], "p_tfl": [], "p_tfl_full": [], "sizes": {}}
    pooled = None
    if args.pooled:
        pool_subjects = [s for s in (args.pool or ALL) if s != subject]
        t = time.perf_counter()
        eps = [_wide(s, tc) for s in pool_subjects]
        # no refit: the early-stopped net (held-out run = the last run of every pooled subject)
        pooled = train_pooled(eps, base, TrainConfig(max_epochs=60, patience=10, batch_size=32,
                                                     refit=False, seed=args.seed),
                              band=DEFAULT_BAND)
        say(f"{subject}: pooled net on {len(pool_subjects)} subjects, "
            f"{pooled.history['epochs']} epochs, {time.perf_counter() - t:.0f} s")
    for test in np.unique(ep.runs):
        tr, te = ep.subset(ep.runs != test), ep.subset(ep.runs == test)
        y = te.y
        for name, cfg in variants.items():
            m = train_stffda(tr, cfg, tc, band=DEFAULT_BAND)
            xt = m.prep(te.X[..., margin:margin + n])
            p = predict_proba(m.net, xt)
            correct[name] += int(np.sum(p.argmax(1) == y))
            if name != "stffda_torch":
                continue
            fp32 = export_onnx(m.net)
            data = epochs_to_crops(tr, n, m.prep, tc.crop_step)
            calib = data.windows
            q = quantize_onnx(fp32, "dynamic", calib)
            p32, p8 = run_onnx(fp32, xt), run_onnx(q, xt)
            correct["onnx_fp32"] += int(np.sum(p32.argmax(1) == y))
            correct["onnx_int8"] += int(np.sum(p8.argmax(1) == y))
            quant["p_fp32"].append(p32)
            quant["p_int8"].append(p8)
            quant["sizes"].update(onnx_fp32=len(fp32), onnx_int8=len(q))
            if tfl:
                from export.stffda.tflite_export import (
                    DEFAULT_SCHEME,
                    compact_flatbuffer,
                    export_tflite_fp32,
                    quantize_tflite,
                    run_tflite,
                )

                t32 = export_tflite_fp32(m.net)
                t8 = quantize_tflite(t32, DEFAULT_SCHEME)
                pt = run_tflite(t8, xt)
                correct["tflite_int8"] += int(np.sum(pt.argmax(1) == y))
                quant["p_tfl"].append(pt)
                # full int8 activations, for the record (calibrated on the training windows)
                tf8 = quantize_tflite(t32, "static_wi8_ai8", calib)
                pf = run_tflite(tf8, xt)
                correct["tflite_full8"] += int(np.sum(pf.argmax(1) == y))
                quant["p_tfl_full"].append(pf)
                quant["sizes"].update(tflite_fp32=len(compact_flatbuffer(t32)),
                                      tflite_int8=len(t8), tflite_full_int8=len(tf8))
        if pooled is not None:
            prep = fit_scale(tr, n, *DEFAULT_BAND)  # unlabelled calibration data of the subject
            p = predict_proba(pooled.net, prep(te.X[..., margin:margin + n]))
            correct["pooled_loso"] += int(np.sum(p.argmax(1) == y))
            ft = finetune(pooled, tr, tc)
            p = predict_proba(ft.net, ft.prep(te.X[..., margin:margin + n]))
            correct["pooled_ft"] += int(np.sum(p.argmax(1) == y))
        say(f"{subject}: run {test} held out, running "
            + ", ".join(f"{k} {v}" for k, v in correct.items() if v))
    if args.peers:
        from fgsft_accuracy import run_subject as peer_subject

        r = peer_subject(_file(subject), WINDOW, args.grid, 1)
        for k in ("fgsft", "csp_lda", "ts_lr"):
            correct[k] = int(round(r[k] * len(ep.y)))
    total = len(ep.y)
    out = {"subject": subject, "n_trials": total}
    for c in COLS:
        skip = ((c.startswith("tflite") and not tfl) or (c.startswith("pooled") and pooled is None)
                or (c in ("fgsft", "csp_lda", "ts_lr") and not args.peers))
        out[c] = None if skip else correct[c] / total
    p32, p8 = np.concatenate(quant["p_fp32"]), np.concatenate(quant["p_int8"])
    out["int8"] = {"agreement": float(np.mean(p32.argmax(1) == p8.argmax(1))),
                   "max_dev": float(np.max(np.abs(p32 - p8)))}
    if tfl:
        for key, ps in (("tflite", "p_tfl"), ("tflite_full8_q", "p_tfl_full")):
            pt = np.concatenate(quant[ps])
            out[key] = {"agreement": float(np.mean(p32.argmax(1) == pt.argmax(1))),
                        "max_dev": float(np.max(np.abs(p32 - pt)))}
    out["sizes"] = quant["sizes"]
    return out


def print_table(rows: list[dict]) -> None:
    head = f"{'subject':<8}" + "".join(f"{c:>14}" for c in COLS)
    print(head)

    def fmt(v):
        return f"{v:>14.3f}" if v is not None else f"{'-':>14}"

    for r in rows:
        print(f"{r['subject']:<8}" + "".join(fmt(r[c]) for c in COLS))
    if len(rows) > 1:
        means = {c: [r[c] for r in rows if r[c] is not None] for c in COLS}
        print(f"{'mean':<8}" + "".join(fmt(np.mean(v) if v else None) for v in means.values()))
    for r in rows:
        line = (f"{r['subject']}: ONNX int8 vs fp32 agreement {r['int8']['agreement']:.3f}, "
                f"max |dp| {r['int8']['max_dev']:.4f}")
        if "tflite" in r:
            line += (f"; TFLite int8 (dynamic_wi8_afp32) vs ONNX fp32 agreement "
                     f"{r['tflite']['agreement']:.3f}, max |dp| {r['tflite']['max_dev']:.4f}"
                     f"; TFLite full int8 (static_wi8_ai8) agreement "
                     f"{r['tflite_full8_q']['agreement']:.3f}, max |dp| "
                     f"{r['tflite_full8_q']['max_dev']:.4f}")
        print(line)
    if rows:
        print("sizes (bytes):", rows[-1]["sizes"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", nargs="+", default=["S001", "S002", "S007", "S015"])
    ap.add_argument("--pool", nargs="+", help="subjects to pool (default S001-S024 minus target)")
    ap.add_argument("--grid", default="fast", help="FGSFT grid for the peers (fast)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument("--no-pooled", dest="pooled", action="store_false")
    ap.add_argument("--no-tflite", dest="tflite", action="store_false")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    start = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f}s] {msg}", file=sys.stderr, flush=True)

    rows = []
    for s in args.subjects:
        rows.append(run_subject(s, args, say))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    print(f"leave-one-run-out accuracy, eegmmidb left/right, window {WINDOW[0]}-{WINDOW[1]} s, "
          f"band {DEFAULT_BAND[0]:g}-{DEFAULT_BAND[1]:g} Hz, seed {args.seed}")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
