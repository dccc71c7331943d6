"""What the live view (``mi-edge run --view``) costs the loop: e2e latency with the view off, on
with no browser connected, and on with one client reading its event stream.

One run, segments interleaved (off, on-no-client, one-client, then the reverse order, ...) so
that machine load hits all modes alike. Each segment is the real loop (FGSFT deciding,
decisions to a drained pty, the profiler's probes for ``e2e``: newest sample's BrainFlow
timestamp to the return of the serial write) on BrainFlow's playback board replaying S007 run
12 (real EEG, Cyton montage, looped). The client is an SSE reader in a thread of the same
process, as a browser tab would read ``/events``.

Usage::

    python benchmarks/view_cost.py [--seconds 20] [--rounds 2] [--bundle B] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from runtime_latency import CYTON, _pct, board_config, ensure_bundle, ensure_playback  # noqa: E402

MODES = ("off", "on_no_client", "one_client")


class _Client(threading.Thread):
    """Reads the view's event stream until the run ends (counts events)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        host, port = url.split("//")[1].strip("/").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.events = 0

    def run(self) -> None:
        self.conn.request("GET", "/events")
        resp = self.conn.getresponse()
        for line in resp.fp:
            if line.startswith(b"event: "):
                self.events += 1
            if line.startswith(b"event: bye"):
                break


def segment(bundle_path: Path, playback: Path, seconds: float, mode: str) -> dict:
    from edge.brainflow_source import BrainFlowSource
    from edge.bundle import open_bundle
    from edge.decoders import load_decoder
    from edge.loop import LoopConfig, Runtime
    from edge.profiling import Probes, PtyDrain
    from edge.serial_sink import SerialSink
    from edge.view import LiveView

    bundle = open_bundle(bundle_path)
    dec = load_decoder(bundle, "fgsft")
    pty = PtyDrain().start()
    serial = SerialSink(pty.port)
    probes = Probes(dec.name, [], int(seconds * 10) + 64)
    serial.subscribe(probes)
    sinks, observers = [serial], [probes]
    view = client = None
    if mode != "off":
        view = LiveView(("127.0.0.1", 0), bundle.channels, bundle.sfreq)
        serial.subscribe(view)
        sinks.append(view)
        observers.append(view)
    source = BrainFlowSource.from_bundle(bundle, board_config("playback", playback))
    rt = Runtime(dec, bundle.channels, bundle.sfreq, source, sinks,
                 LoopConfig(stop_on_end=False), observers=observers)
    if mode == "one_client":
        view.server.start()  # the client connects before the run; start() is idempotent
        client = _Client(view.url)
        client.start()
        while not view.hub:
            time.sleep(0.01)
    try:
        stats = rt.run(seconds)
    finally:
        pty.stop()
    if client is not None:
        client.join(timeout=5)
    e2e = probes.column("e2e") * 1e3
    return {"e2e": e2e, "own": e2e - probes.column("read") * 1e3, "hops": stats.hops,
            "decode_ms": np.asarray(stats.decode_s.values()) * 1e3,
            "events": client.events if client else 0}


def callback_cost(hops: int = 3000) -> dict[str, float]:
    """The view's own time on the loop thread per hop, in isolation: 12 reads (10 ms polls at
    a 125 ms hop), the sink's emit and the observer's on_hop, µs; with one client its events
    are serialised on another thread, as the server does (GIL contention included)."""
    import json
    import queue

    from edge.decision import DecisionOutput, DecisionState
    from edge.run_state import RunStateMachine, Session
    from edge.source import Chunk
    from edge.view import LiveView

    view = LiveView(("127.0.0.1", 0), CYTON, 250.0)
    run = RunStateMachine([view])
    view.start(Session(("left_hand", "right_hand"), 8.0), run)
    run.link()
    out = DecisionOutput(DecisionState.NO_DECISION, 0, 0.6, np.array([0.6, 0.4]), "threshold")
    info = {"t": 1.0, "raw_proba": [0.6, 0.4], "decode_ms": 5.0, "sample_age_ms": 10.0}
    chunk = Chunk(np.random.default_rng(0).normal(0, 20, (8, 3)), np.arange(3) / 250.0,
                  np.zeros(3))

    def per_hop() -> float:
        t0 = time.perf_counter()
        for i in range(hops):
            for k in range(12):
                view.on_read(chunk, 0, 0.0, i * 0.125 + k * 0.01)
            view.emit(out, info)
            view.on_hop(None, out, 0.0, 0.005, 0.0)
        return (time.perf_counter() - t0) / hops * 1e6

    result = {"no_client_us": min(per_hop() for _ in range(3))}
    q = view.hub.subscribe()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                json.dumps(q.get(timeout=0.1)[1])
            except queue.Empty:
                pass

    threading.Thread(target=drain, daemon=True).start()
    result["one_client_us"] = min(per_hop() for _ in range(3))
    stop.set()
    run.stop(0.0)
    return {k: round(v, 1) for k, v in result.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--bundle", type=Path, help="a Cyton-montage bundle with an fgsft decoder "
                                                 "(default: trained as make demo does)")
    args = ap.parse_args(argv)
    work = Path(tempfile.gettempdir()) / "mi-edge-bench"
    work.mkdir(exist_ok=True)
    bundle = args.bundle or ensure_bundle(work / "S007_cyton.mibundle")
    playback = ensure_playback(work / "s007_r12_cyton.csv")
    acc = {m: {"e2e": [], "own": [], "decode_ms": [], "hops": 0, "events": 0} for m in MODES}
    for r in range(args.rounds):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            print(f"round {r + 1}/{args.rounds}: {mode}, {args.seconds:g} s", file=sys.stderr)
            seg = segment(bundle, playback, args.seconds, mode)
            for key in ("e2e", "own", "decode_ms"):
                acc[mode][key].append(seg[key])
            acc[mode]["hops"] += seg["hops"]
            acc[mode]["events"] += seg["events"]
    summary = {m: {"hops": a["hops"], "events_received": a["events"],
                   "e2e_ms": _pct(np.concatenate(a["e2e"])),
                   "own_ms": _pct(np.concatenate(a["own"])),
                   "decode_ms": _pct(np.concatenate(a["decode_ms"]))} for m, a in acc.items()}
    for key in ("e2e", "own"):
        off = summary["off"][f"{key}_ms"]
        for m in MODES:
            x = summary[m][f"{key}_ms"]
            summary[m][f"{key}_ratio_p50"] = round(x["p50"] / off["p50"], 3)
            summary[m][f"{key}_ratio_p99"] = round(x["p99"] / off["p99"], 3)
    print("e2e: newest sample's BrainFlow timestamp -> serial write returned; own: e2e minus "
          "BrainFlow's delivery (read returned -> serial write returned)")
    print(f"{'mode':<14}{'hops':>6}{'e2e p50':>9}{'p99':>7}{'x p50':>7}{'x p99':>7}"
          f"{'own p50':>9}{'p99':>7}{'x p50':>7}{'x p99':>7}{'events':>8}")
    for m, s in summary.items():
        e, o = s["e2e_ms"], s["own_ms"]
        print(f"{m:<14}{s['hops']:>6}{e['p50']:>9.2f}{e['p99']:>7.2f}{s['e2e_ratio_p50']:>7.2f}"
              f"{s['e2e_ratio_p99']:>7.2f}{o['p50']:>9.2f}{o['p99']:>7.2f}"
              f"{s['own_ratio_p50']:>7.2f}{s['own_ratio_p99']:>7.2f}{s['events_received']:>8}")
    cost = callback_cost()
    summary["view_callbacks_per_hop_us"] = cost
    print(f"the view's callbacks on the loop thread, per hop: {cost['no_client_us']} µs with no "
          f"client, {cost['one_client_us']} µs with one")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
