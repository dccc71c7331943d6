"""The nets at the Cyton demo's montage: accuracy, int8 bounds, size and per-window latency.

Every registered net (STFF-DA, EEGNet-8,2, STAFNet when registered) at 8 Cyton electrodes
(C3 Cz C4 FC3 FC4 CP3 CP4 C1, the demo's montage) resampled to 250 Hz, window 0.5-2.5 s (500
samples), in one run:

1. **accuracy**, leave-one-run-out (runs 4, 8, 12; 30 training trials, 15 held out) on the
   repo's subjects (S002, S007) or ``--subjects`` from ``../shared/data/eegmmidb``, with a fast
   setting: a fixed number of epochs per net (no early stopping, ``--epochs`` scales them), one
   thread. Held-out accuracy of torch, ONNX fp32, ONNX int8 (the scheme the bundle writer
   picks) and TFLite int8, and the int8-vs-fp32 decision agreement on every 50 ms-shifted crop
   of the held-out run;
2. **latency** of one window on the edge (``load_decoder(...).predict_proba``, preprocessing and
   alignment included): ONNX fp32, ONNX int8, TFLite int8, beside torch fp32 and BrainFlow's
   ``MLModel`` on the same fp32 ONNX, one thread, the same held-out windows; ratios of medians
   to torch, to BrainFlow and to the 125 ms hop;
3. **parameters and bytes** of every net and file.

Usage::

    nice -n 10 python benchmarks/nets_latency.py [--subjects S002 S007] [--json out.json]
        [--markdown table.md] [--repeats 200] [--epochs-scale 1.0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from stffda_latency import _time, reference_fns  # noqa: E402

REPO_DATA = ROOT / "data" / "eegmmidb"
SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"
CYTON = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]
SFREQ, WINDOW, SHIFT, HOP_S = 250.0, (0.5, 2.5), 0.25, 0.125
RUNS = (4, 8, 12)
#: fixed epochs and learning rate per net (the fast setting; STAFNet's is mi-export stafnet's
#: default recipe, the one of benchmarks/nets_accuracy.py)
RECIPE = {"stffda": (60, 1e-3), "eegnet": (150, 3e-3), "stafnet": (40, 3e-3)}


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def subject_file(s: str) -> Path:
    for root in (REPO_DATA, SHARED):
        p = root / f"{s}_imagery_left_right.npz"
        if p.exists():
            return p
    raise SystemExit(f"{s}: no {s}_imagery_left_right.npz in {REPO_DATA} or {SHARED}")


def net_config(name: str, ep):
    """The net's default configuration for these recordings (the CLI's defaults)."""
    from export.nets.registry import get

    n = int(round((WINDOW[1] - WINDOW[0]) * ep.sfreq))
    cfg_cls = get(name).config
    if name == "stffda":
        return cfg_cls(len(ep.ch_names), n, kernel_size=max(3, int(round(0.15 * ep.sfreq)) | 1))
    if name == "eegnet":
        from export.nets.eegnet import temporal_kernel

        return cfg_cls(len(ep.ch_names), n, kernel_size=temporal_kernel(ep.sfreq), dropout=0.25)
    return cfg_cls(len(ep.ch_names), n, sfreq=ep.sfreq, ch_names=tuple(ep.ch_names))


def _load(path: Path, runs, window):
    from export.data import load_epochs

    return load_epochs([path], window=window, runs=list(runs), channels=CYTON, sfreq=SFREQ)


def run_fold(name: str, path: Path, test_run: int, scale: float) -> dict:
    """Train one net on two runs, measure torch/ONNX/int8/TFLite on the third."""
    from export.nets.onnx_export import export_onnx
    from export.nets.quantize import deviation, run_onnx, select_scheme
    from export.nets.registry import get
    from export.nets.tflite_export import export_tflite_fp32, litert_available, quantize_tflite
    from export.nets.tflite_export import run_tflite as run_tfl
    from export.nets.train import TrainConfig, epochs_to_crops, predict_proba, train

    wide = (WINDOW[0] - SHIFT, WINDOW[1] + SHIFT)
    ep = _load(path, [r for r in RUNS if r != test_run], wide)
    ep = dataclasses.replace(ep, runs=np.zeros_like(ep.runs))  # fixed epochs, no early stop
    epochs, lr = RECIPE.get(name, (60, 1e-3))
    tc = TrainConfig(max_epochs=max(1, int(round(epochs * scale))), lr=lr, seed=0)
    t0 = time.perf_counter()
    trained = train(ep, net_config(name, ep), tc, band=(4.0, 40.0))
    seconds = time.perf_counter() - t0
    test = epochs_to_crops(_load(path, [test_run], wide), trained.net.cfg.n_samples,
                           trained.prep, tc.crop_step)
    calib = epochs_to_crops(ep, trained.net.cfg.n_samples, trained.prep, tc.crop_step).windows
    n = test.crops.shape[1]
    crops, y = test.crops.reshape(-1, *test.crops.shape[2:]), np.repeat(test.y, n)
    centre = np.arange(len(test.y)) * n + test.centre
    fp32 = export_onnx(trained.net)
    p32 = run_onnx(fp32, crops)
    scheme, q, _ = select_scheme(fp32, calib, crops, y, schemes=get(name).onnx_schemes,
                                 exclude=get(name).int8_exclude)
    p8 = run_onnx(q, crops)
    row = {"net": name, "subject": path.name[:4], "test_run": test_run, "train_s": seconds,
           "acc_torch": float(np.mean(predict_proba(trained.net, crops[centre]).argmax(1)
                                      == test.y)),
           "acc_onnx_fp32": float(np.mean(p32[centre].argmax(1) == test.y)),
           "acc_onnx_int8": float(np.mean(p8[centre].argmax(1) == test.y)),
           "onnx_int8_scheme": scheme, "onnx_int8": deviation(p32, p8, y)}
    if litert_available() is None:
        t8 = quantize_tflite(export_tflite_fp32(trained.net))
        pt = run_tfl(t8, crops)
        row["acc_tflite_int8"] = float(np.mean(pt[centre].argmax(1) == test.y))
        row["tflite_int8"] = deviation(p32, pt, y)
    return row | {"_trained": trained, "_ep": ep, "_tc": tc}


def latency(name: str, fold: dict, repeats: int, tmp: Path) -> dict:
    """Bundle of the fold's net; per-window cost of its decoders beside torch and BrainFlow."""
    import torch

    from edge.bundle import open_bundle
    from edge.decoders import load_decoder
    from export.nets.bundle import write_net

    torch.set_num_threads(1)
    trained, ep, tc = fold["_trained"], fold["_ep"], fold["_tc"]
    path, summary = write_net(tmp / f"{name}.mibundle", name, trained, ep, WINDOW, tc,
                              tflite="auto")
    bundle = open_bundle(path)
    windows = _load(subject_file(fold["subject"]), [fold["test_run"]], WINDOW).X
    torch_fn, brainflow_fn, release = reference_fns(bundle, f"{name}_fp32", trained.net)
    rows = {"torch fp32": _time(torch_fn, windows, repeats)}
    try:
        rows["BrainFlow MLModel (fp32 ONNX)"] = _time(brainflow_fn, windows, repeats)
    except Exception as exc:  # noqa: BLE001 - a graph MLModel cannot run is reported
        rows["BrainFlow MLModel (fp32 ONNX)"] = {"error": str(exc)[:200]}
    for dname in bundle.decoder_names:
        dec = load_decoder(bundle, dname)
        rows[f"edge {dname}"] = _time(lambda w, d=dec: d.predict_proba(w[None])[0], windows,
                                      repeats) | {"bytes": summary[dname]["bytes"]}
    release()
    t_ref = rows["torch fp32"]["median_ms"]
    b_ref = rows["BrainFlow MLModel (fp32 ONNX)"].get("median_ms")
    for r in rows.values():
        if "median_ms" in r:
            r["vs_torch"] = r["median_ms"] / t_ref
            r["vs_brainflow"] = r["median_ms"] / b_ref if b_ref else None
            r["share_of_hop"] = r["median_ms"] * 1e-3 / HOP_S
    n_params = int(sum(p.numel() for p in trained.net.parameters()))
    return {"parameters": n_params, "fp32_weight_bytes": 4 * n_params, "rows": rows}


def summarise(folds: list[dict], lat: dict) -> dict:
    """Per net: mean accuracies, worst int8 agreement, accuracy changes, sizes, latency."""
    out = {}
    for name in dict.fromkeys(f["net"] for f in folds):
        fs = [f for f in folds if f["net"] == name]
        s = {k: float(np.mean([f[k] for f in fs])) for k in
             ("acc_torch", "acc_onnx_fp32", "acc_onnx_int8", "acc_tflite_int8", "train_s")
             if all(k in f for f in fs)}
        s["n_folds"] = len(fs)
        for kind in ("onnx_int8", "tflite_int8"):
            if all(kind in f for f in fs):
                s[f"{kind}_min_agreement"] = min(f[kind]["decision_agreement"] for f in fs)
                s[f"{kind}_max_dev"] = max(f[kind]["max_abs_posterior_deviation"] for f in fs)
        s["onnx_int8_schemes"] = sorted({f["onnx_int8_scheme"] for f in fs})
        out[name] = s | {"latency": lat.get(name)}
    return out


def markdown(summary: dict, subjects: list[str], repeats: int) -> str:
    lines = [f"Nets at the Cyton montage (8 electrodes, 250 Hz, 500-sample window), "
             f"leave-one-run-out on {', '.join(subjects)} (runs 4/8/12, 30 training trials, "
             f"fixed epochs {RECIPE}); latency: one thread, median of {repeats} calls on "
             "held-out windows, preprocessing included, one run.", "",
             "| net | params | ONNX fp32 B | ONNX int8 B (scheme) | TFLite int8 B | int8 size "
             "ratio ONNX / TFLite (vs ONNX fp32) | acc torch | acc ONNX fp32 | acc ONNX int8 | "
             "acc TFLite int8 | int8 agreement ONNX / TFLite (min over folds) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        rows = s["latency"]["rows"]
        b = {k.split(" ")[1]: r.get("bytes") for k, r in rows.items() if k.startswith("edge ")}
        # the sizes are those of the bundle of the latency fold (the last subject, run 12)
        acc = [f"{s[k]:.3f}" if k in s else "-" for k in
               ("acc_torch", "acc_onnx_fp32", "acc_onnx_int8", "acc_tflite_int8")]
        b32, b8, bt = (b.get(f"{name}_{k}") for k in ("fp32", "int8", "tflite_int8"))
        ratio = f"{b32 / b8:.2f} / " + (f"{b32 / bt:.2f}" if bt else "-")
        lines.append(f"| {name} | {s['latency']['parameters']} | {b32} | "
                     f"{b8} ({'/'.join(s['onnx_int8_schemes'])}) | "
                     f"{bt or '-'} | {ratio} | {' | '.join(acc)} | "
                     f"{s.get('onnx_int8_min_agreement', float('nan')):.3f} / "
                     f"{s.get('tflite_int8_min_agreement', float('nan')):.3f} |")
    lines += ["", "| net | path | median ms | p95 ms | / torch | / BrainFlow | / 125 ms hop |",
              "|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        for path, r in s["latency"]["rows"].items():
            if "median_ms" not in r:
                lines.append(f"| {name} | {path} | error: {r.get('error')} | | | | |")
                continue
            vb = f"{r['vs_brainflow']:.2f}" if r.get("vs_brainflow") else "-"
            lines.append(f"| {name} | {path} | {r['median_ms']:.3f} | {r['p95_ms']:.3f} | "
                         f"{r['vs_torch']:.2f} | {vb} | {r['share_of_hop']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", nargs="+", default=["S002", "S007"])
    ap.add_argument("--nets", nargs="+", help="registered nets (default: all)")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--epochs-scale", type=float, default=1.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)

    import torch

    from export.nets.registry import names

    torch.set_num_threads(1)
    nets = args.nets or names()
    folds, lat = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in nets:
            for s in args.subjects:
                for run in RUNS:
                    f = run_fold(name, subject_file(s), run, args.epochs_scale)
                    say(f"{name} {s} run {run}: torch {f['acc_torch']:.3f}, ONNX int8 "
                        f"{f['acc_onnx_int8']:.3f} ({f['onnx_int8_scheme']}), "
                        f"{f['train_s']:.0f} s")
                    if s == args.subjects[-1] and run == RUNS[-1]:
                        lat[name] = latency(name, f, args.repeats, Path(tmp))
                    folds.append({k: v for k, v in f.items() if not k.startswith("_")})
    summary = summarise(folds, lat)
    table = markdown(summary, args.subjects, args.repeats)
    print(table)
    if args.json:
        args.json.write_text(json.dumps({"folds": folds, "summary": summary}, indent=1,
                                        default=float))
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
