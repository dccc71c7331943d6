"""Peak memory of the torch-free runtime per decoder kind, beside a process that uses torch.

Each figure is the peak resident set size (``VmHWM``) of a fresh subprocess,
all measured in one run:

* ``python + numpy``: the interpreter floor;
* ``runtime:<decoder>``: the mi-edge runtime (``edge.loop``, ``edge.brainflow_source`` with
  BrainFlow, ``edge.sinks`` with pyserial) loading the bundle and *one* decoder, then running
  the loop over 60 s of real EEG (S007 run 12, replayed; resampled to the bundle's rate by the
  parent, since resampling is not the runtime's); the child checks that neither torch nor
  scikit-learn was imported, and reports whether ``scipy.signal`` was;
* ``torch fp32``: ``import torch`` + the STFF-DA net of the bundle's architecture, one forward
  per window on the same windows (what running the model without the edge export costs).

Usage::

    python benchmarks/runtime_memory.py [--bundle B.mibundle] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

RUN12 = ROOT / "data" / "eegmmidb" / "S007_R12_continuous.npz"


def _rss_mib() -> float:
    # VmHWM, not ru_maxrss: the latter survives exec and would report this script's own peak
    from edge.profiling import peak_rss_bytes

    return peak_rss_bytes() / 2**20


def _recording_at_rate(bundle: Path, folder: Path) -> Path:
    """S007 run 12, first 60 s, already at the bundle's rate: resampling (``scipy.signal``) is
    data preparation for the replay, not part of the runtime whose memory is measured."""
    from edge.bundle import open_bundle
    from edge.recording import load_continuous

    rec = load_continuous(RUN12)
    rec.raw = rec.raw[:, : int(60 * rec.sfreq)]
    rec = rec.resampled(open_bundle(bundle).sfreq)
    path = folder / "r12_at_bundle_rate.npz"
    np.savez(path, raw=rec.raw, events=rec.events, event_names=np.array(rec.event_names),
             ch_names=np.array(rec.ch_names), sfreq=rec.sfreq, subject=rec.subject, run=rec.run)
    return path


def _child(kind: str, bundle_path: str, decoder: str | None, recording: str = "") -> dict:
    if kind == "baseline":
        import numpy  # noqa: F401

        return {"peak_rss_mib": _rss_mib()}
    import numpy as np

    from edge.bundle import open_bundle
    from edge.recording import load_continuous

    bundle = open_bundle(bundle_path)
    rec = load_continuous(recording or RUN12)
    rec.raw = rec.raw[:, : int(60 * rec.sfreq)]
    if kind == "runtime":
        import edge.brainflow_source  # noqa: F401 - the runtime imports BrainFlow and pyserial too
        import edge.sinks  # noqa: F401
        from edge.decoders import load_decoder
        from edge.loop import LoopConfig, Runtime
        from edge.replay import RecordingSource

        dec = load_decoder(bundle, decoder)
        src = RecordingSource(rec, bundle.channels, bundle.sfreq, 31)
        stats = Runtime(dec, bundle.channels, bundle.sfreq, src, [],
                        LoopConfig(realtime=False, poll_s=0.0)).run()
        return {"peak_rss_mib": _rss_mib(), "hops": stats.hops, "kind": dec.kind,
                "torch_imported": "torch" in sys.modules,
                "scipy_signal_imported": "scipy.signal" in sys.modules,
                "sklearn_imported": "sklearn" in sys.modules}
    if kind == "torch":
        import torch

        from edge.decoders import load_decoder
        from edge.replay import RecordingSource
        from export.stffda.model import STFFDAConfig, STFFDANet

        torch.set_num_threads(1)
        spec = bundle.decoder_spec(decoder)
        dec = load_decoder(bundle, decoder)  # its preprocessing, same as the edge
        net = STFFDANet(STFFDAConfig.from_dict(spec["params"]["architecture"])).eval()
        src = RecordingSource(rec, bundle.channels, bundle.sfreq, 31)
        x = src.data
        n, hop = dec.n_samples, 31
        hops = 0
        with torch.inference_mode():
            for end in range(n, x.shape[1], hop):
                w = np.ascontiguousarray(x[:, end - n:end])
                torch.softmax(net(torch.from_numpy(dec.prep(w)[None])), 1)
                hops += 1
        return {"peak_rss_mib": _rss_mib(), "hops": hops, "torch_imported": True}
    raise SystemExit(f"unknown child {kind}")


def _spawn(kind: str, bundle: Path, decoder: str | None = None, recording: Path | None = None
           ) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--bundle", str(bundle)]
    if recording:
        cmd += ["--recording", str(recording)]
    if decoder:
        cmd += ["--decoder", decoder]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} {decoder}: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(bundle: Path, say=print) -> dict:
    from edge.bundle import open_bundle

    names = open_bundle(bundle).decoder_names
    rows: dict = {"python + numpy": _spawn("baseline", bundle)}
    tmp = tempfile.TemporaryDirectory()
    recording = _recording_at_rate(bundle, Path(tmp.name))
    for name in names:
        say(f"  runtime with {name}")
        try:
            rows[f"runtime:{name}"] = _spawn("runtime", bundle, name, recording)
        except RuntimeError as exc:  # e.g. no TFLite interpreter
            say(f"  skipped {name}: {str(exc).splitlines()[-1]}")
    fp32 = next((n for n in names if n.endswith("_fp32")), None)
    if fp32:
        say("  torch fp32")
        rows["torch fp32 (STFF-DA net)"] = _spawn("torch", bundle, fp32, recording)
    tmp.cleanup()
    return rows


def print_rows(rows: dict) -> None:
    torch_mib = next((r["peak_rss_mib"] for k, r in rows.items() if k.startswith("torch")), None)
    print("peak RSS per process, MiB (fresh subprocess each; runtime rows: 60 s of S007 run 12 "
          "through the loop with one decoder)")
    print(f"{'process':<34}{'peak MiB':>10}{'/ torch':>9}  torch/sklearn imported")
    for name, r in rows.items():
        ratio = f"{r['peak_rss_mib'] / torch_mib:>9.2f}" if torch_mib else f"{'':>9}"
        imp = ""
        if "torch_imported" in r:
            imp = f"{r['torch_imported']}/{r.get('sklearn_imported', '-')}"
        print(f"{name:<34}{r['peak_rss_mib']:>10.1f}{ratio}  {imp}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path,
                    help="bundle with fgsft and stffda_* decoders (default: train one, ~20 s)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--decoder", help=argparse.SUPPRESS)
    ap.add_argument("--recording", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        import warnings

        warnings.filterwarnings("ignore")
        print(json.dumps(_child(args.child, str(args.bundle), args.decoder, args.recording)))
        return 0
    from runtime_latency import ensure_bundle

    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or ensure_bundle(Path(tmp) / "S007_cyton.mibundle")
        rows = measure(bundle, say=lambda m: print(m, file=sys.stderr, flush=True))
    print_rows(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
