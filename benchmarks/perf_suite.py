"""One command for every number in the README's performance section.

Runs, in one process and one sitting (so that ratios compare like with like):

1. a bundle as ``make demo`` trains it (FGSFT fast grid + STFF-DA fp32/int8 ONNX, TFLite with
   the litert extra) on 8 Cyton electrodes of eegmmidb S007 runs 4 and 8 at 250 Hz;
2. per-window cost of every edge decoder beside torch fp32 (the STFF-DA net), BrainFlow's
   ``MLModel`` on the same fp32 ONNX and an MNE CSP+LDA online step (8-30 Hz band-pass of the
   window + ``CSP.transform`` + ``LDA.predict_proba``), one thread, the same held-out windows;
3. sample-to-serial latency vs BrainFlow's own delivery latency, and the probe overhead
   (``benchmarks/runtime_latency.py``), synthetic and playback boards;
4. ``mi-edge profile`` on the playback board replaying S007 run 12 (the real command);
5. peak RSS of the torch-free runtime per decoder vs a torch process
   (``benchmarks/runtime_memory.py``);
6. leave-one-run-out accuracy of every decoder (STFF-DA torch and its ONNX/TFLite exports,
   FGSFT) beside MNE CSP+LDA and pyRiemann tangent space on eegmmidb left/right imagery in
   ``../shared/data`` (``benchmarks/stffda_accuracy.py``; per-subject results are cached in
   ``--out`` so an interrupted run resumes; ``--fresh`` recomputes them).

It writes ``--out``/perf.json and replaces the README section between ``<!-- perf -->`` and
``<!-- /perf -->`` with the tables rendered from what it measured.

Usage::

    python benchmarks/perf_suite.py            # everything, every left/right subject (~1.5 h)
    python benchmarks/perf_suite.py --quick    # shorter segments, subjects S001 S002 S007
    python benchmarks/perf_suite.py --render build/perf/perf.json   # re-render, no measuring
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import runtime_latency  # noqa: E402
import runtime_memory  # noqa: E402

README = ROOT / "README.md"
BEGIN, END = "<!-- perf -->", "<!-- /perf -->"
SHARED = ROOT.parent / "shared" / "data" / "eegmmidb"
QUICK_SUBJECTS = ["S001", "S002", "S007"]


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- 2. per-window decoder cost ---------------------------------------------------------------
def _one_window(dec, w: np.ndarray) -> np.ndarray:
    """One window through a decoder, as the runtime loop decodes it."""
    return dec.predict_proba(w[None])[0]


def _before_issue15(dec):
    """The FGSFT decode as it was before issue 15, on the same model: ``scipy.signal.sosfiltfilt``
    per band per call, per-segment covariances and features, an SVM per member."""
    import dataclasses
    from types import SimpleNamespace

    from scipy.signal import sosfiltfilt

    model = dataclasses.replace(dec.model)
    model._filters_cache = {b: SimpleNamespace(zero_phase=partial(sosfiltfilt, f.sos, axis=-1))
                            for b, f in dec.model.band_filters().items()}

    def decode(w):
        return model.proba_from_decisions(model.decision_functions(
            model.segment_features(w[None])))[0]
    return decode


def _stream_hop(stream, hop: int, w: np.ndarray) -> np.ndarray:
    """A streaming decoder's work per hop: filter the hop's new samples, then decide."""
    stream.push(w[:, -hop:])
    return stream.predict_proba()


def decoder_cost(bundle_path: Path, repeats: int, hop_s: float = 0.125) -> dict:
    import mne
    import torch
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from stffda_latency import _time, reference_fns

    from edge.bundle import open_bundle
    from edge.decoders import load_decoder
    from edge.filterbank import bandpass
    from export.data import load_epochs

    mne.set_log_level("WARNING")
    torch.set_num_threads(1)
    bundle = open_bundle(bundle_path)
    kw = {"channels": runtime_latency.CYTON, "sfreq": bundle.sfreq}
    test = load_epochs([runtime_latency.EPOCHS], window=(0.5, 2.5), runs=[12], **kw)
    train = load_epochs([runtime_latency.EPOCHS], window=(0.5, 2.5), runs=[4, 8], **kw)
    windows = test.X
    rows: dict = {}
    fp32 = next(n for n in bundle.decoder_names if n.endswith("_fp32"))
    # latency does not depend on weight values: a net of the bundle's architecture
    torch_fn, brainflow_fn, release = reference_fns(bundle, fp32)
    xf = bandpass(train.X, 8, 30, train.sfreq)
    csp = CSP(n_components=4, log=True).fit(xf, train.y)
    lda = LinearDiscriminantAnalysis().fit(csp.transform(xf), train.y)

    from scipy.signal import sosfiltfilt

    from edge.filterbank import bandpass_sos

    sos = bandpass_sos(8.0, 30.0, float(train.sfreq))

    def csp_lda(w):  # as an MNE user filters: scipy's sosfiltfilt, not our cached filter
        return lda.predict_proba(csp.transform(sosfiltfilt(sos, w, axis=-1)[None]))[0]

    rows["torch fp32 (STFF-DA net)"] = _time(torch_fn, windows, repeats)
    rows["BrainFlow MLModel (same fp32 ONNX)"] = _time(brainflow_fn, windows, repeats)
    rows["MNE CSP+LDA online step"] = _time(csp_lda, windows, repeats)
    for name in bundle.decoder_names:
        try:
            dec = load_decoder(bundle, name)
        except Exception as exc:  # noqa: BLE001 - e.g. no TFLite interpreter
            say(f"skipping {name}: {exc}")
            continue
        if dec.kind == "fgsft" and not dec.model.causal:
            rows[f"edge {name} before issue 15 (sosfiltfilt per call, per-segment "
                 "covariances)"] = _time(_before_issue15(dec), windows, repeats)
        rows[f"edge {name} ({dec.kind})"] = _time(partial(_one_window, dec), windows, repeats)
        stream = dec.open_stream() if hasattr(dec, "open_stream") else None
        if stream is not None:
            hop = int(round(hop_s * bundle.sfreq))
            stream.push(windows[0])
            rows[f"edge {name} ({dec.kind}, streaming: the hop's {hop} new samples + "
                 "decision)"] = _time(partial(_stream_hop, stream, hop), windows, repeats)
    release()
    ref = {"torch": rows["torch fp32 (STFF-DA net)"]["median_ms"],
           "brainflow": rows["BrainFlow MLModel (same fp32 ONNX)"]["median_ms"],
           "csp_lda": rows["MNE CSP+LDA online step"]["median_ms"]}
    for r in rows.values():
        for k, v in ref.items():
            r[f"vs_{k}"] = r["median_ms"] / v
    for r in rows.values():
        r["share_of_hop"] = r["median_ms"] * 1e-3 / hop_s
    return {"n_windows": int(len(windows)), "repeats": repeats, "rows": rows, "hop_s": hop_s}


# -- 4. the real profiler ---------------------------------------------------------------------
def profile_run(bundle: Path, playback: Path, seconds: float, out_dir: Path) -> dict:
    cmd = [sys.executable, "-m", "edge.cli", "profile", str(bundle), "--board", "playback",
           "--file", str(playback), "--master-board", "cyton", "--duration", f"{seconds:g}",
           "-o", str(out_dir), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"mi-edge profile failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# -- 6. accuracy ------------------------------------------------------------------------------
def accuracy(subjects: list[str], cache: Path, fresh: bool, cached: list[str]) -> list[dict]:
    import stffda_accuracy

    cache.mkdir(parents=True, exist_ok=True)
    ns = argparse.Namespace(seed=0, pooled=False, pool=None, peers=True, grid="fast",
                            tflite=True)
    rows = []
    for s in subjects:
        f = cache / f"{s}.json"
        if f.exists() and not fresh:
            rows.append(json.loads(f.read_text()))
            cached.append(s)
            say(f"accuracy {s}: cached ({f})")
            continue
        say(f"accuracy {s}: leave-one-run-out, every decoder and the peers")
        row = stffda_accuracy.run_subject(s, ns, lambda m: say(f"  {m}"))
        f.write_text(json.dumps(row, indent=1))
        rows.append(row)
    return rows


# -- rendering --------------------------------------------------------------------------------
def _f(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}"


#: Raspberry Pi 4 / this machine, measured on overhead-bound Python (issue 15); compiled loops
#: (the filter kernel, BLAS) scale less, so this over- rather than under-estimates.
PI_FACTOR = 6.0


def pi_estimate(cost: dict) -> str:
    """The Raspberry Pi estimate line, stated as one, with its scaling."""
    hop_ms = 1e3 * cost["hop_s"]
    parts = [f"{name.split(' (')[0].replace('edge ', '')}"
             f"{' streaming' if 'streaming' in name else ''} ~{PI_FACTOR * r['median_ms']:.1f} ms"
             f" ({100 * PI_FACTOR * r['median_ms'] / hop_ms:.1f} % of the hop)"
             for name, r in cost["rows"].items() if name.startswith("edge ")]
    return (f"*Raspberry Pi 4 estimate, not a measurement:* this machine's medians x "
            f"{PI_FACTOR:g}, the Pi-vs-here ratio measured for overhead-bound Python (compiled "
            "loops, the filter kernel and BLAS, scale less, so the estimate errs high): "
            + "; ".join(parts) + ". Measure with `mi-edge profile` on the Pi (below).")


def polling_table(pol: dict | None, lat: dict) -> list[str]:
    if not pol:
        return []
    lines = ["", "**Hop-to-frame latency and CPU, before and after** (playback board, "
             f"{lat['rounds']} x {lat['seconds']:g} s per mode, interleaved, probes on; e2e: the "
             "hop's newest sample (BrainFlow timestamp) to the return of the serial write; CPU "
             "of the whole process, BrainFlow's reader thread included):", "",
             "| loop | deciding decoder | read p50 / p99 ms | e2e p50 / p99 ms | reads per hop "
             "| CPU per hop ms | CPU share of one core |", "|---|---|---:|---:|---:|---:|---:|"]
    for label, r in pol.items():
        loop = label.split(",")[0]
        lines.append(f"| {loop} | {r['decoder']} | {r['read_ms']['p50']:.2f} / "
                     f"{r['read_ms']['p99']:.2f} | {r['e2e_ms']['p50']:.2f} / "
                     f"{r['e2e_ms']['p99']:.2f} | {r['reads_per_hop']:.1f} | "
                     f"{r['cpu_ms_per_hop']:.2f} | {100 * r['cpu_share']:.1f} % |")
    return lines


def render(res: dict) -> str:
    m = res["machine"]
    lines = [
        BEGIN,
        "## Performance",
        "",
        f"Generated by `{res['command']}` on {res['date']} ({res['seconds']:.0f} s): "
        f"{m['cpu_model']}, {m['cores']} cores, load average {m['load_avg_1_5_15'][0]:g} at the "
        f"start{'; ' + res['load_note'] if res.get('load_note') else ''}. Every ratio compares "
        "numbers measured side by side in this run. On a Raspberry Pi, run the same command "
        "(or `mi-edge profile`, below) for that board's figures.",
        "",
        "**Per-window decoder cost** (one thread, preprocessing included, "
        f"{res['cost']['n_windows']} held-out S007 windows x {res['cost']['repeats']} calls, "
        "8 Cyton channels at 250 Hz, 2 s windows):",
        "",
        "| decoder | median ms | p95 ms | share of the 125 ms hop | / torch fp32 | "
        "/ BrainFlow MLModel | / MNE CSP+LDA |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in res["cost"]["rows"].items():
        lines.append(f"| {name} | {r['median_ms']:.3f} | {r['p95_ms']:.3f} | "
                     f"{100 * r['share_of_hop']:.2f} % | "
                     f"{r['vs_torch']:.2f} | {r['vs_brainflow']:.2f} | {r['vs_csp_lda']:.2f} |")
    lines += ["", pi_estimate(res["cost"])]
    lat = res["latency"]
    lines += [
        "",
        "**Sample-to-serial latency vs BrainFlow's delivery latency** "
        f"(`benchmarks/runtime_latency.py`: {lat['rounds']} x {lat['seconds']:g} s per mode, "
        "interleaved; the loop sleeps until each hop's samples are due; exact FGSFT deciding; "
        "decisions written to a pty). BrainFlow delivery: a bare BrainFlow loop polling every "
        "10 ms, age of the newest sample when `get_board_data` returns it. e2e: newest "
        "sample's BrainFlow timestamp to the return of "
        "the serial write; read: the same delivery latency inside mi-edge; processing: "
        "e2e - read.",
        "",
        "| board | BrainFlow delivery p50 / p99 ms | mi-edge read p50 / p99 | processing "
        "p50 / p99 | e2e p50 / p99 | e2e p99 - delivery p99 ms | e2e / BrainFlow (p50) | "
        "delivery share of mean e2e |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for board, r in lat["boards"].items():
        bf, rd, pr, e2e = (r["brainflow_delivery_newest_ms"], r["read_ms"], r["processing_ms"],
                           r["e2e_ms"])
        lines.append(f"| {board} | {bf['p50']:.2f} / {bf['p99']:.2f} | {rd['p50']:.2f} / "
                     f"{rd['p99']:.2f} | {pr['p50']:.2f} / {pr['p99']:.2f} | {e2e['p50']:.2f} / "
                     f"{e2e['p99']:.2f} | {e2e['p99'] - bf['p99']:+.2f} | "
                     f"{r['e2e_over_brainflow_p50']:.2f} | "
                     f"{100 * r['delivery_share_of_mean_e2e']:.0f} % |")
    lines += polling_table(res.get("polling"), lat)
    lines += ["", "**Probe overhead** (same loop, probes off / on, alternating segments):", "",
              "| board | probe cost per hop | share of processing p50 | decode p50 off / on ms "
              "| sample age at hand-over p50 off / on ms | CPU per hop off / on ms |",
              "|---|---:|---:|---:|---:|---:|"]
    for board, r in lat["boards"].items():
        po = r["probe_overhead"]
        lines.append(f"| {board} | {po['per_hop_us']:.2f} µs | "
                     f"{100 * po['share_of_processing_p50']:.3f} % | "
                     f"{po['decode_ms_p50_off']:.2f} / {po['decode_ms_p50_on']:.2f} | "
                     f"{po['age_at_handover_ms_p50_off']:.2f} / "
                     f"{po['age_at_handover_ms_p50_on']:.2f} | {po['cpu_ms_per_hop_off']:.2f} / "
                     f"{po['cpu_ms_per_hop_on']:.2f} |")
    lines += ["", "The probes' own cost is the second column (timed in isolation); the last "
              "three columns compare what the loop measures with and without them, on a shared "
              "machine whose load varies between segments."]
    p = res["profile"]
    lines += [
        "",
        f"**`mi-edge profile` on the playback board** (S007 run 12 replayed in real time, "
        f"{p['run']['wall_s']:.0f} s, {p['run']['hops']} hops, {p['run']['decisions_per_s']:.2f} "
        f"decisions/s, CPU {100 * p['run']['cpu_share_of_one_core']:.1f} % of one core with "
        f"every decoder running, peak RSS {p['run']['peak_rss_mib']:.0f} MiB):",
        "",
        "| stage | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in p["stages"].items():
        lines.append(f"| {name} | {_f(s['p50_ms'], 3)} | {_f(s['p95_ms'], 3)} | "
                     f"{_f(s['p99_ms'], 3)} | {_f(s['max_ms'], 3)} |")
    lines += ["", "| decoder (same windows) | decode p50 / p99 ms | e2e as the deciding "
              "decoder p50 / p99 ms |", "|---|---:|---:|"]
    for name, d in p["decoders"].items():
        tag = " (deciding)" if d["primary"] else ""
        lines.append(f"| {name}{tag} | {_f(d['decode']['p50_ms'])} / "
                     f"{_f(d['decode']['p99_ms'])} | {_f(d['projected_e2e']['p50_ms'])} / "
                     f"{_f(d['projected_e2e']['p99_ms'])} |")
    mem = res["memory"]
    torch_mib = next(r["peak_rss_mib"] for k, r in mem.items() if k.startswith("torch"))
    lines += ["", "**Memory** (`benchmarks/runtime_memory.py`: peak RSS of a fresh process; "
              "runtime rows run 60 s of S007 run 12, resampled to the bundle's rate beforehand, "
              "through the loop with one decoder, and import neither torch, scikit-learn nor "
              "`scipy.signal`" + ("" if all(not r.get("scipy_signal_imported") for r in
                                     mem.values()) else " (except where marked)") + "):", "",
              "| process | peak RSS MiB | / torch process |", "|---|---:|---:|"]
    for name, r in mem.items():
        lines.append(f"| {name} | {r['peak_rss_mib']:.0f} | {r['peak_rss_mib'] / torch_mib:.2f} |")
    acc = res["accuracy"]
    if not acc:
        lines += ["", "**Accuracy**: not rerun here (`--skip-accuracy`); see the Results "
                  "section above.", "", HOWTO.strip(), END]
        return "\n".join(lines) + "\n"
    cols = [c for c in ("stffda_torch", "onnx_fp32", "onnx_int8", "tflite_int8", "stffda_2d",
                        "stffda_noattn", "fgsft", "csp_lda", "ts_lr")
            if any(r.get(c) is not None for r in acc)]
    lines += ["", f"**Accuracy** (`benchmarks/stffda_accuracy.py`, leave-one-run-out, eegmmidb "
              f"left/right imagery, {len(acc)} subjects of `../shared/data`, all 64 channels at "
              "160 Hz, 0.5-2.5 s after the cue; FGSFT fast grid; peers band-passed 8-30 Hz):",
              "", "| subject | " + " | ".join(cols) + " |",
              "|---|" + "---:|" * len(cols)]
    for r in acc:
        lines.append(f"| {r['subject']} | " + " | ".join(_f(r.get(c), 3) for c in cols) + " |")
    notes = []
    if "tflite_int8" not in cols:
        notes.append("no TFLite column: the `litert` extra was not installed")
    if res.get("accuracy_cached"):
        notes.append(f"rows of {', '.join(res['accuracy_cached'])} were measured by an earlier "
                     f"run of this command and cached in `build/perf/accuracy/` (`--fresh` "
                     "recomputes them)")
    if len(acc) > 1:
        means = [np.mean([r[c] for r in acc if r.get(c) is not None]) for c in cols]
        lines.append("| **mean** | " + " | ".join(f"**{v:.3f}**" for v in means) + " |")
    if notes:
        text = "; ".join(notes)
        lines += ["", text[0].upper() + text[1:] + "."]
    lines += ["", HOWTO.strip(), END]
    return "\n".join(lines) + "\n"


HOWTO = """
### Profiling on a Raspberry Pi

After the runtime install of `deploy/README.md` (BrainFlow built from source, `pip install .`;
add `pip install matplotlib` for the plots):

```bash
mi-edge check S007.mibundle
# the headset: a Cyton on the dongle, decisions to the microcontroller, 60 s
mi-edge profile S007.mibundle --board cyton --serial-port /dev/openbci \\
    --montage C3,Cz,C4,FC3,FC4,CP3,CP4,C1 --out serial:/dev/mi-bridge --duration 60 -o profile/
# no headset at hand: BrainFlow's playback board replays a real recording in real time
mi-export playback data/eegmmidb/S007_R12_continuous.npz --board cyton \\
    --channels C3 Cz C4 FC3 FC4 CP3 CP4 C1 -o r12.csv      # on the workstation; copy r12.csv*
mi-edge profile S007.mibundle --board playback --file r12.csv --duration 60 -o profile/
```

It runs the real loop with probes at each stage and every other decoder of the bundle on the
same windows (after each decision is sent, so they never delay it; `--no-compare` turns them
off) and writes `profile/profile.json`, `profile.md` (the table it prints), `hops.csv` (one row
per hop) and, with matplotlib, `latency_histograms.png` and `latency_over_time.png`. Read it as:

- `read`: from the newest sample's BrainFlow timestamp to the read that returned it, i.e.
  BrainFlow's delivery latency plus the wait until the loop reads (it sleeps until the
  hop's samples are due, then reads; `--poll S` polls every S instead);
- `preprocess`, `decode:<decoder>`, `decision`, `serial_write`: our own stages;
- `e2e`: from the newest sample's timestamp to the return of the serial write; `e2e - read` is
  our processing. The decoder table gives, for each decoder, the e2e it would have as the
  deciding one: pick the one whose p99 fits your latency budget and the decision hop (`--hop`).
- Without `--out serial:PORT` the frames go to a pseudo-terminal drained in-process, so the
  write is a real tty write but not your adapter's: profile with the device's port to include
  its USB latency timer (1 ms with `deploy/99-mi-edge.rules`).
- BrainFlow stamps a Cyton sample when its reader thread parses the packet: radio and USB
  transit before that are not in `e2e`. The report records the CPU model, the Pi model from
  `/proc/device-tree/model`, the load average, the CPU governor and the SoC temperature; a
  throttled Pi (`vcgencmd get_throttled`) measures slower.
- The report measures the probes' cost on the device itself (`probe_overhead`: per hop, and as
  a share of the median processing time); the table above has this machine's.
"""


def update_readme(section: str, path: Path = README) -> None:
    text = path.read_text()
    if BEGIN in text and END in text:
        new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", lambda _: section,
                     text, count=1, flags=re.S)
    else:  # first time: right after the "## Results on real EEG" section
        anchor = text.find("## Results on real EEG")
        nxt = text.find("\n## ", anchor + 1) if anchor >= 0 else -1
        if nxt < 0:
            new = text.rstrip("\n") + "\n\n" + section
        else:
            new = text[: nxt + 1] + section + "\n" + text[nxt + 1:]
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="shorter latency segments and profile, subjects S001 S002 S007")
    ap.add_argument("--subjects", nargs="+", help="accuracy subjects (default: every "
                    "eegmmidb left/right recording in ../shared/data; --quick: S001 S002 S007)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "perf")
    ap.add_argument("--fresh", action="store_true", help="recompute cached accuracy rows")
    ap.add_argument("--no-readme", dest="readme", action="store_false",
                    help="do not rewrite the README section")
    ap.add_argument("--load-note", default="",
                    help="what else ran on the machine, printed beside the load average")
    ap.add_argument("--skip-accuracy", action="store_true",
                    help="do not train the accuracy rows (the Results section has them)")
    ap.add_argument("--render", type=Path, metavar="PERF_JSON",
                    help="only re-render the README section from a perf.json this command wrote")
    args = ap.parse_args(argv)
    if args.render:
        section = render(json.loads(args.render.read_text()))
        print(section)
        if args.readme:
            update_readme(section)
        return 0
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.ERROR)
    from brainflow.board_shim import BoardShim, LogLevels

    from edge.profiling import machine_info

    BoardShim.set_log_level(int(LogLevels.LEVEL_OFF))
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    subjects = args.subjects or (QUICK_SUBJECTS if args.quick else sorted(
        p.name.split("_")[0] for p in SHARED.glob("S*_imagery_left_right.npz")))
    seconds, rounds = (8.0, 2) if args.quick else (20.0, 3)
    profile_s = 20.0 if args.quick else 60.0
    res: dict = {"command": "python benchmarks/perf_suite.py" + (" --quick" if args.quick
                                                                  else ""),
                 "date": dt.date.today().isoformat(), "machine": machine_info(),
                 "load_note": args.load_note}
    say("bundle (FGSFT fast + STFF-DA on the Cyton montage of S007)")
    bundle = runtime_latency.ensure_bundle(args.out / "S007_cyton.mibundle", quiet=True)
    playback = runtime_latency.ensure_playback(args.out / "S007_R12_cyton.csv")
    say("per-window decoder cost")
    res["cost"] = decoder_cost(bundle, 100 if args.quick else 300)
    say("sample-to-serial latency vs BrainFlow delivery, probe overhead")
    res["latency"] = {"seconds": seconds, "rounds": rounds,
                      "boards": runtime_latency.measure(bundle, playback,
                                                        ["synthetic", "playback"], seconds,
                                                        rounds, say=say, poll_s=None)}
    say("hop-to-frame latency and CPU: polling every 10 ms (before) vs sleeping until due")
    res["polling"] = runtime_latency.poll_comparison(bundle, playback, seconds, rounds, {
        "before: poll 10 ms, fgsft": (0.01, "fgsft"),
        "after: sleep until due, fgsft": (None, "fgsft"),
        "after: sleep until due, fgsft_causal (streaming)": (None, "fgsft_causal"),
    }, say=say)
    say(f"mi-edge profile on the playback board, {profile_s:g} s")
    res["profile"] = profile_run(bundle, playback, profile_s, args.out / "profile")
    say("memory")
    res["memory"] = runtime_memory.measure(bundle, say=say)
    if not SHARED.is_dir():
        raise SystemExit(f"benchmark data not found at {SHARED} (../shared/data beside the repo)")
    res["accuracy_cached"] = []
    res["accuracy"] = [] if args.skip_accuracy else accuracy(
        subjects, args.out / "accuracy", args.fresh, res["accuracy_cached"])
    res["seconds"] = time.perf_counter() - t0
    (args.out / "perf.json").write_text(json.dumps(res, indent=1, default=float))
    section = render(res)
    (args.out / "perf.md").write_text(section)
    print(section)
    if args.readme:
        update_readme(section)
        say(f"README.md performance section regenerated; raw results in {args.out}/perf.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
