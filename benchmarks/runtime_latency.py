"""Sample-to-serial latency of the runtime beside BrainFlow's own delivery latency, and the
cost of the profiler's probes.

Measured in one run, segments interleaved so that machine load hits all of them alike:

* ``brainflow``: a bare BrainFlow loop (``BoardShim.get_board_data`` every ``poll_s``, nothing
  else): the age of the newest sample when ``get_board_data`` returns it, i.e. the time from a
  sample's BrainFlow timestamp to it being read. This is the floor any BrainFlow application
  polling at that rate pays;
* ``runtime``: the mi-edge loop (FGSFT deciding, decisions written to a drained pty) with the
  profiler's probes: ``e2e`` from the newest sample's BrainFlow timestamp to the return of the
  serial write, split into ``read`` (the same delivery latency as seen by our loop) and our own
  processing (``e2e - read``);
* probe overhead: the same loop with probes off and on, alternating; compared on what the loop
  reports in both modes (the decoder time it always measures, the newest sample's age when the
  decision is handed to the sinks, CPU time per hop), plus the probes' cost per hop timed in
  isolation.

Boards: BrainFlow's synthetic board (real-time Unix timestamps) and the playback board replaying
real EEG (eegmmidb S007 run 12 on a Cyton montage; BrainFlow stamps played samples with the
wall clock).

Usage::

    python benchmarks/runtime_latency.py [--bundle B.mibundle] [--seconds 20] [--rounds 3]
        [--boards synthetic playback] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.sinks import NullSink  # noqa: E402

DATA = ROOT / "data" / "eegmmidb"
EPOCHS = DATA / "S007_imagery_left_right.npz"
RUN12 = DATA / "S007_R12_continuous.npz"
CYTON = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]
POLL_S = 0.01


def ensure_bundle(path: Path, quiet: bool = True) -> Path:
    """FGSFT (fast grid) + STFF-DA (fp32/int8 ONNX, TFLite when available) on the 8 Cyton
    electrodes of S007 runs 4 and 8 at 250 Hz, as ``make demo`` trains them; reused if present.
    """
    path = Path(path)
    if (path / "manifest.json").exists():
        return path
    common = [str(EPOCHS), "--runs", "4", "8", "--window", "0.5", "2.5", "--channels", *CYTON,
              "--sfreq", "250", "-o", str(path)]
    out = subprocess.DEVNULL if quiet else None
    for cmd in (["fgsft", *common, "--grid", "fast", "--jobs", "1"], ["stffda", *common]):
        subprocess.run([sys.executable, "-m", "export.cli", *cmd], check=True, cwd=ROOT,
                       stdout=out, stderr=out)
    return path


def ensure_playback(path: Path) -> Path:
    """S007 run 12 (125 s of real EEG) as a Cyton playback file, real-time speed."""
    from export.playback import write_playback

    if not path.exists():
        write_playback(RUN12, path, "cyton", CYTON)
    return path


def board_config(board: str, playback_file: Path):
    from edge.boards import BoardConfig

    if board == "playback":
        return BoardConfig(board="playback", file=str(playback_file), master_board="cyton",
                           loopback=True)
    return BoardConfig(board="synthetic", montage=",".join(CYTON))


def brainflow_delivery(cfg, seconds: float, poll_s: float = POLL_S) -> dict:
    """Bare BrainFlow: age of the newest sample (and of every sample) when get_board_data
    returns it, polling every ``poll_s``."""
    from brainflow.board_shim import BoardShim

    board_id = cfg.data_board_id
    ts_row = BoardShim.get_timestamp_channel(board_id)
    shim = BoardShim(cfg.board_id, cfg.input_params())
    shim.prepare_session()
    if cfg.is_playback:
        shim.config_board("loopback_true")
    shim.start_stream()
    newest, every = [], []
    try:
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            time.sleep(poll_s)
            raw = shim.get_board_data()
            now = time.time()
            if raw.shape[1]:
                ages = now - raw[ts_row]
                newest.append(ages[-1])
                every.append(ages)
    finally:
        shim.stop_stream()
        shim.release_session()
    return {"newest": np.asarray(newest), "every": np.concatenate(every) if every else
            np.zeros(0)}


class _AgeSink(NullSink):
    """Keeps what the loop reports in every mode: newest-sample age at hand-over, decode time."""

    def __init__(self) -> None:
        self.age_ms: list[float] = []
        self.decode_ms: list[float] = []

    def emit(self, out, info):
        if "sample_age_ms" in info:
            self.age_ms.append(float(info["sample_age_ms"]))
        self.decode_ms.append(float(info["decode_ms"]))


def runtime_segment(bundle_path: Path, cfg, seconds: float, probes_on: bool,
                    poll_s: float = POLL_S) -> dict:
    """The mi-edge loop on ``cfg`` for ``seconds``: FGSFT deciding, serial to a drained pty."""
    from edge.brainflow_source import BrainFlowSource
    from edge.bundle import open_bundle
    from edge.decoders import load_decoder
    from edge.loop import LoopConfig, Runtime
    from edge.profiling import CpuMeter, Probes, PtyDrain
    from edge.serial_sink import SerialSink

    bundle = open_bundle(bundle_path)
    dec = load_decoder(bundle, "fgsft")
    pty = PtyDrain().start()
    serial = SerialSink(pty.port)
    ages = _AgeSink()
    probes = Probes(dec.name, [], int(seconds * 10) + 64) if probes_on else None
    if probes is not None:
        serial.subscribe(probes)
    source = BrainFlowSource.from_bundle(bundle, cfg)
    rt = Runtime(dec, bundle.channels, bundle.sfreq, source, [serial, ages],
                 LoopConfig(poll_s=poll_s, stop_on_end=False),
                 observers=[probes] if probes is not None else None)
    cpu = CpuMeter()
    try:
        stats = rt.run(seconds)
    finally:
        pty.stop()
    usage = cpu.read()
    out = {"hops": stats.hops, "cpu_s": usage["cpu_s"], "age_ms": np.asarray(ages.age_ms),
           "decode_ms": np.asarray(ages.decode_ms)}
    if probes is not None:
        out["e2e"] = probes.column("e2e") * 1e3
        out["read"] = probes.column("read") * 1e3
        out["serial_write"] = probes.column("serial_write") * 1e3
        out["self_cost"] = probes.self_cost()
    return out


def _pct(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if not x.size:
        return {"n": 0}
    return {"n": int(x.size), "p50": float(np.median(x)), "p95": float(np.percentile(x, 95)),
            "p99": float(np.percentile(x, 99)), "max": float(x.max()), "mean": float(x.mean())}


def measure(bundle: Path, playback: Path, boards: list[str], seconds: float, rounds: int,
            say=print) -> dict:
    """Interleaved segments per board; returns the summary the README quotes."""
    results: dict = {}
    for board in boards:
        cfg = board_config(board, playback)
        acc: dict[str, list] = {k: [] for k in ("bf_newest", "bf_every", "e2e", "read",
                                                "serial_write", "on_age", "off_age",
                                                "on_decode", "off_decode")}
        cpu = {"on": [0.0, 0], "off": [0.0, 0]}
        cost = []
        for r in range(rounds):
            order = [("bf", None), ("on", True), ("off", False)]
            if r % 2:
                order = order[::-1]
            for what, probes_on in order:
                say(f"  {board} round {r + 1}/{rounds}: "
                    f"{'bare BrainFlow' if what == 'bf' else 'runtime, probes ' + what} "
                    f"{seconds:g} s")
                if what == "bf":
                    d = brainflow_delivery(cfg, seconds)
                    acc["bf_newest"].append(d["newest"] * 1e3)
                    acc["bf_every"].append(d["every"] * 1e3)
                    continue
                seg = runtime_segment(bundle, cfg, seconds, probes_on)
                acc[f"{what}_age"].append(seg["age_ms"])
                acc[f"{what}_decode"].append(seg["decode_ms"])
                cpu[what][0] += seg["cpu_s"]
                cpu[what][1] += seg["hops"]
                if probes_on:
                    for k in ("e2e", "read", "serial_write"):
                        acc[k].append(seg[k])
                    cost.append(seg["self_cost"]["per_hop_us"])
        cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in acc.items()}
        e2e, read = cat["e2e"], cat["read"]
        ok = np.isfinite(e2e) & np.isfinite(read)
        own = e2e[ok] - read[ok]
        cpu_hop = {k: 1e3 * v[0] / max(v[1], 1) for k, v in cpu.items()}
        res = {
            "brainflow_delivery_newest_ms": _pct(cat["bf_newest"]),
            "brainflow_delivery_every_sample_ms": _pct(cat["bf_every"]),
            "e2e_ms": _pct(e2e),
            "read_ms": _pct(read),
            "processing_ms": _pct(own),
            "serial_write_ms": _pct(cat["serial_write"]),
            "delivery_share_of_mean_e2e": float(read[ok].mean() / e2e[ok].mean()),
            "probe_overhead": {
                "per_hop_us": float(np.median(cost)),
                "decode_ms_p50_on": float(np.median(cat["on_decode"])),
                "decode_ms_p50_off": float(np.median(cat["off_decode"])),
                "age_at_handover_ms_p50_on": float(np.median(cat["on_age"])),
                "age_at_handover_ms_p50_off": float(np.median(cat["off_age"])),
                "cpu_ms_per_hop_on": cpu_hop["on"],
                "cpu_ms_per_hop_off": cpu_hop["off"],
                "hops_on": cpu["on"][1], "hops_off": cpu["off"][1],
            },
        }
        bf50 = res["brainflow_delivery_newest_ms"]["p50"]
        res["e2e_over_brainflow_p50"] = res["e2e_ms"]["p50"] / bf50
        po = res["probe_overhead"]
        po["share_of_processing_p50"] = po["per_hop_us"] * 1e-3 / res["processing_ms"]["p50"]
        results[board] = res
    return results


def print_results(results: dict, seconds: float, rounds: int) -> None:
    print(f"sample-to-serial latency vs BrainFlow delivery, ms ({rounds} x {seconds:g} s "
          f"interleaved per mode, poll {POLL_S * 1e3:g} ms, FGSFT deciding, pty serial)")
    print(f"{'board':<10}{'what':<34}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    for board, r in results.items():
        for key, label in (("brainflow_delivery_newest_ms", "BrainFlow delivery (bare loop)"),
                           ("read_ms", "read: delivery inside mi-edge"),
                           ("processing_ms", "our processing (e2e - read)"),
                           ("serial_write_ms", "serial write"),
                           ("e2e_ms", "e2e sample -> serial write")):
            p = r[key]
            print(f"{board:<10}{label:<34}{p['p50']:>8.2f}{p['p95']:>8.2f}{p['p99']:>8.2f}"
                  f"{p['max']:>8.2f}")
        po = r["probe_overhead"]
        print(f"{board:<10}e2e / BrainFlow delivery (p50) {r['e2e_over_brainflow_p50']:.2f}; "
              f"delivery is {100 * r['delivery_share_of_mean_e2e']:.0f} % of the mean e2e")
        print(f"{board:<10}probes off/on: decode p50 {po['decode_ms_p50_off']:.2f}/"
              f"{po['decode_ms_p50_on']:.2f} ms, sample age at hand-over p50 "
              f"{po['age_at_handover_ms_p50_off']:.2f}/{po['age_at_handover_ms_p50_on']:.2f} ms, "
              f"CPU per hop {po['cpu_ms_per_hop_off']:.2f}/{po['cpu_ms_per_hop_on']:.2f} ms; "
              f"probe cost {po['per_hop_us']:.2f} us/hop = "
              f"{100 * po['share_of_processing_p50']:.3f} % of processing p50")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, help="bundle with an fgsft decoder on the Cyton "
                                                "montage (default: train one, ~20 s)")
    ap.add_argument("--seconds", type=float, default=20.0, help="per segment (20)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--boards", nargs="+", default=["synthetic", "playback"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import logging
    import warnings

    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    logging.basicConfig(level=logging.ERROR)
    from brainflow.board_shim import BoardShim, LogLevels

    BoardShim.set_log_level(int(LogLevels.LEVEL_OFF))
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or ensure_bundle(Path(tmp) / "S007_cyton.mibundle")
        playback = ensure_playback(Path(tmp) / "r12.csv")
        results = measure(bundle, playback, args.boards, args.seconds, args.rounds,
                          say=lambda m: print(m, file=sys.stderr, flush=True))
    print_results(results, args.seconds, args.rounds)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
