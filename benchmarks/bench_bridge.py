"""Firmware bridge benchmark: frame sizes and per-frame encode/decode cost.

Run: ``.venv/bin/python benchmarks/bench_bridge.py``. Prints the wire size of every message type
in binary and ASCII mode, the Python encode and decode cost per frame, and the C decoder's cost
per frame on this host (``vector_runner`` over 200 000 frames; needs gcc and make).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from firmware_bridge import cbuild
from firmware_bridge.ascii_mode import AsciiEncoder
from firmware_bridge.decoder import FrameDecoder
from firmware_bridge.frames import FaultReason, FrameEncoder

CLASSES = ["left", "right", "feet", "tongue"]
N = 20_000


def per_call_us(fn, n: int = N) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def main() -> None:
    enc = FrameEncoder()
    asc = AsciiEncoder(CLASSES)
    makers = {
        "HELLO (4 names)": (lambda: enc.hello(CLASSES, 4.0, 250), asc.hello),
        "HELLO (hash only)": (lambda: enc.hello(CLASSES, 4.0, 250, send_names=False), None),
        "DECISION": (lambda: enc.decision(1, 0.87), lambda: asc.decision(1, 0.87)),
        "HEARTBEAT": (enc.heartbeat, asc.heartbeat),
        "FAULT": (lambda: enc.fault(FaultReason.BOARD_LOST), lambda: asc.fault(1)),
        "STOP": (enc.stop, asc.stop),
    }
    print(f"{'message':20s} {'wire B':>7s} {'ascii B':>8s} {'encode us':>10s} {'decode us':>10s}")
    for name, (make_bin, make_ascii) in makers.items():
        frame = make_bin()
        dec = FrameDecoder()
        enc_us = per_call_us(make_bin)
        dec_us = per_call_us(lambda frame=frame, dec=dec: dec.feed(frame))
        ascii_len = len(make_ascii()) if make_ascii else "-"
        print(f"{name:20s} {len(frame):7d} {ascii_len!s:>8s} {enc_us:10.2f} {dec_us:10.2f}")

    decision = enc.decision(1, 0.87)
    at_115200 = len(decision) * 10 / 115200 * 1e3
    print(f"\nDECISION on the wire at 115200 baud (8N1): {at_115200:.2f} ms")

    if cbuild.missing_tools():
        print(f"C decoder: skipped, missing {cbuild.missing_tools()}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        runner = cbuild.build_runner(Path(tmp))
        n_frames = 200_000
        stream = decision * n_frames
        record = len(stream).to_bytes(4, "little") + stream
        empty = (0).to_bytes(4, "little")
        times = {}
        for label, payload in (("empty", empty), ("frames", record)):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run([runner, "decode"], input=payload, stdout=subprocess.DEVNULL,
                               check=True)
                best = min(best, time.perf_counter() - t0)
            times[label] = best
        c_us = (times["frames"] - times["empty"]) / n_frames * 1e6
        print(f"C decoder on this host (vector_runner, incl. printing): {c_us:.3f} us/DECISION")


if __name__ == "__main__":
    main()
