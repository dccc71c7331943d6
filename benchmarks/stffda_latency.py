"""Per-window latency of every edge decoder, single-threaded, beside torch fp32 and BrainFlow.

Trains STFF-DA on S007 runs 4 and 8 of the bundled data (or uses ``--bundle``), then times on
the same real windows, in one run, one thread each:

* ``torch_fp32``: the PyTorch net (preprocessing + forward), ``torch.set_num_threads(1)``;
* ``brainflow_mlmodel``: BrainFlow's ``MLModel`` ONNX classifier on the same fp32 ONNX
  (preprocessing + predict);
* every decoder of the bundle through the edge (``load_decoder(...).predict_proba``): the
  ONNX fp32/int8 ones, the TFLite int8 one (if an interpreter is installed) and FGSFT if present.

Printed: median and 95th-percentile ms per window, and the ratios of the medians to torch fp32
and to BrainFlow. Set ``OMP_NUM_THREADS=1`` for a clean single-thread measurement.

Usage::

    python benchmarks/stffda_latency.py [--bundle B.mibundle] [--repeats 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

S007 = ROOT / "data" / "eegmmidb" / "S007_imagery_left_right.npz"
WINDOW = (0.5, 2.5)


def _time(fn, windows: np.ndarray, repeats: int) -> dict:
    for w in windows[:5]:
        fn(w)  # warm-up
    times = []
    for i in range(repeats):
        w = windows[i % len(windows)]
        t = time.perf_counter()
        fn(w)
        times.append(time.perf_counter() - t)
    t = np.asarray(times) * 1e3
    return {"median_ms": float(np.median(t)), "p95_ms": float(np.percentile(t, 95))}


def reference_fns(bundle, fp32_name: str, net=None):
    """torch fp32 and BrainFlow ``MLModel`` per-window functions for the bundle's fp32 ONNX.

    Both apply the decoder's own preprocessing. ``net`` defaults to an untrained net of the
    recorded architecture (latency does not depend on the weight values). Returns
    ``(torch_fn, brainflow_fn, release)``; call ``release()`` when done.
    """
    import torch
    from brainflow.ml_model import (
        BrainFlowClassifiers,
        BrainFlowMetrics,
        BrainFlowModelParams,
        MLModel,
    )

    from edge.decoders import load_decoder
    from export.nets.registry import get

    spec = bundle.decoder_spec(fp32_name)
    dec32 = load_decoder(bundle, fp32_name)
    entry = get(spec["params"].get("net", "stffda"))  # bundles before the registry: STFF-DA
    net = (net if net is not None
           else entry.builder(entry.config.from_dict(spec["params"]["architecture"]))).eval()

    def prep(w):  # the decoder's preprocessing (and alignment, if the net was trained so)
        return dec32.model_input(w[None])

    def torch_fn(w):
        with torch.inference_mode():
            return torch.softmax(net(torch.from_numpy(prep(w))), 1).numpy()[0]

    params = BrainFlowModelParams(BrainFlowMetrics.USER_DEFINED.value,
                                  BrainFlowClassifiers.ONNX_CLASSIFIER.value)
    params.file = str(bundle.member_path(spec["model"]))
    params.output_name = "proba"
    bf = MLModel(params)
    bf.prepare()

    def brainflow_fn(w):
        return bf.predict(prep(w).astype(np.float64).ravel())

    return torch_fn, brainflow_fn, bf.release


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, help="existing bundle with stffda_* decoders; "
                                                "default: train one on S007 runs 4 8")
    ap.add_argument("--prefix", default="stffda")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import torch

    from edge.bundle import open_bundle
    from edge.decoders import load_decoder
    from export.data import load_epochs
    from export.stffda.model import STFFDAConfig

    torch.set_num_threads(1)
    tmp = tempfile.TemporaryDirectory()
    trained = None
    if args.bundle is None:
        from export.stffda.bundle import write_stffda
        from export.stffda.train import TrainConfig, train_stffda

        tc = TrainConfig(max_epochs=40)
        ep = load_epochs([S007], window=(0.25, 2.75), runs=[4, 8])
        trained = train_stffda(ep, STFFDAConfig(64, 320), tc, band=(4.0, 40.0))
        bundle_path, _ = write_stffda(Path(tmp.name) / "lat.mibundle", args.prefix, trained, ep,
                                      WINDOW, tc)
    else:
        bundle_path = args.bundle
    bundle = open_bundle(bundle_path)
    windows = load_epochs([S007], window=WINDOW, runs=[12]).X
    fp32_name = f"{args.prefix}_fp32"
    # torch fp32: the trained net; with --bundle (no state dict there) a net of the recorded
    # architecture (latency does not depend on the weight values)
    torch_fn, brainflow_fn, release = reference_fns(
        bundle, fp32_name, trained.net if trained is not None else None)
    rows = {"torch_fp32": _time(torch_fn, windows, args.repeats),
            "brainflow_mlmodel": _time(brainflow_fn, windows, args.repeats)}
    for name in bundle.decoder_names:
        try:
            dec = load_decoder(bundle, name)
        except Exception as exc:  # e.g. no TFLite interpreter installed
            print(f"skipping {name}: {exc}", file=sys.stderr)
            continue
        rows[f"edge:{name}"] = _time(lambda w, dec=dec: dec.predict_proba(w[None])[0],
                                      windows, args.repeats)
        rows[f"edge:{name}"]["kind"] = dec.kind
    release()
    t_ref, b_ref = rows["torch_fp32"]["median_ms"], rows["brainflow_mlmodel"]["median_ms"]
    for r in rows.values():
        r["vs_torch"] = r["median_ms"] / t_ref
        r["vs_brainflow"] = r["median_ms"] / b_ref
    print(f"per-window latency, one thread, {len(windows)} real S007 windows x "
          f"{args.repeats} calls (preprocessing included)")
    print(f"{'decoder':<28}{'median ms':>10}{'p95 ms':>9}{'/ torch':>9}{'/ BrainFlow':>13}")
    for name, r in rows.items():
        print(f"{name:<28}{r['median_ms']:>10.3f}{r['p95_ms']:>9.3f}{r['vs_torch']:>9.2f}"
              f"{r['vs_brainflow']:>13.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
