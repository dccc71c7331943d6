"""Receiver fuzz (issue 10): duplicates, replays, reorders, drops, bit flips, foreign sessions.

A host session stream is damaged at random and fed, step by step, to the Python receiver and
to the C receiver (``vector_runner receive``); both must print the same status after every
step, and the Python run checks every DECISION acted on against the ground truth:

- never the same (session, seq) twice, and never a seq at or below one already acted on;
- never a frame of a session other than the last HELLO the receiver accepted;
- never older than ``timeout_ms`` plus the documented clock-drift tolerance (1/128 of the time
  since the receiver's host-clock reference); host and device share one clock here;
- never contents that were not sent (bit flips that the CRC misses).

    python benchmarks/bench_bridge_fuzz.py --frames 1000000      # the issue's 10^6 frames
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_bridge import cbuild  # noqa: E402
from firmware_bridge.decoder import FrameDecoder  # noqa: E402
from firmware_bridge.frames import Decision, FrameEncoder, SequenceCounter  # noqa: E402
from firmware_bridge.receiver import Receiver  # noqa: E402

NAMES = ["left", "right"]
TIMEOUT_MS = 500


def make_script(n_frames: int, seed: int) -> list[tuple[str, str]]:
    """Steps ``t MS`` / ``x HEX`` of a damaged host stream with about ``n_frames`` frames."""
    rng = random.Random(seed)
    clock = {"now": 0}

    def encoder() -> FrameEncoder:
        return FrameEncoder(SequenceCounter(rng.randrange(1 << 32)), lambda: clock["now"],
                            session_source=lambda: rng.randrange(1, 1 << 32))

    host, foreign = encoder(), encoder()
    steps: list[tuple[str, str]] = []
    history: list[bytes] = []
    held: bytes | None = None
    steps.append(("x", host.hello(NAMES, 16.0).hex()))
    foreign.hello(NAMES, 16.0)
    sent = 1
    while sent < n_frames:
        clock["now"] += rng.choice((0, 1, 20, 50, 62, 62, 62, 62, 100, 250) * 5 + (600,))
        steps.append(("t", str(clock["now"])))
        r = rng.random()
        if r < 0.02:
            frame = host.hello(NAMES, 16.0)
        elif r < 0.025:
            frame = rng.choice((host.stop(), host.fault(1)))
        elif r < 0.10:
            frame = host.heartbeat()
        else:
            frame = host.decision(rng.randrange(3), rng.random(), rng.choice((0, 0, 0, 1, 2)))
        out: list[bytes] = []
        d = rng.random()
        if d < 0.05:
            pass  # dropped
        elif d < 0.10:
            out += [frame, frame]  # duplicate
        elif d < 0.15:
            held, frame = frame, b""  # reordered: goes out after the next one
        elif d < 0.20:
            raw = bytearray(frame)
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            out.append(bytes(raw))  # bit flip
        else:
            out.append(frame)
        if frame and held is not None and d >= 0.15:
            out.append(held)
            held = None
        if history and rng.random() < 0.12:
            out.append(rng.choice(history))  # replay of anything seen before
        if rng.random() < 0.05:
            if rng.random() < 0.05:
                out.append(foreign.hello(NAMES, 16.0))
            out.append(foreign.decision(rng.randrange(2), 0.9))  # another session
        if rng.random() < 0.03 and history:  # a dropped/held frame delivered late
            clock["now"] += rng.choice((0, 200, 450, 520))
            steps.append(("t", str(clock["now"])))
            out.append(rng.choice(history[-20:]))
        if rng.random() < 0.01:  # a new host session now and then
            host = encoder()
            out.append(host.hello(NAMES, 16.0))
        history.append(frame or (held or b""))
        if len(history) > 5000:
            del history[: len(history) - 5000]
        for wire in out:
            steps.append(("x", wire.hex()))
            sent += 1
    return steps


def run_python(steps: list[tuple[str, str]]) -> tuple[list[str], dict[str, int]]:
    dec, rx = FrameDecoder(), Receiver(TIMEOUT_MS)
    lines: list[str] = []
    stats = {"frames": 0, "used": 0, "wrong": 0, "max_used_age_ms": 0}
    sent_contents: dict[tuple[int, int], bytes] = {}
    used: set[tuple[int, int]] = set()
    last_used: dict[int, int] = {}
    session = None
    now = 0
    for kind, arg in steps:
        if kind == "t":
            now = int(arg)
            rx.tick(now)
        else:
            for event in dec.feed(bytes.fromhex(arg)):
                rx.on_event(event, now)
                stats["frames"] += 1
                if not hasattr(event, "message"):
                    continue
                key = (event.session, event.seq)
                sent_contents.setdefault(key, event.body)
                if rx.last_outcome == "hello":
                    session = event.session
                if rx.last_outcome != "used" or not isinstance(event.message, Decision):
                    continue
                stats["used"] += 1
                age = (now - event.timestamp_ms) % (1 << 32)
                stats["max_used_age_ms"] = max(stats["max_used_age_ms"], age)
                wrong = (
                    key in used
                    or event.session != session
                    or age > TIMEOUT_MS + (((now - rx._local_ref) % (1 << 32)) >> 7) + 1
                    or sent_contents[key] != event.body
                    or ((event.seq - last_used.get(event.session, event.seq - 1)) % (1 << 32))
                    >= 1 << 31
                )
                stats["wrong"] += wrong
                used.add(key)
                last_used[event.session] = event.seq
        lines.append(rx.status_line())
    for name in ("stale", "old", "foreign", "rejected", "ignored", "lost"):
        stats[name] = getattr(rx, name)
    return lines, stats


def run_c(runner: Path, steps: list[tuple[str, str]]) -> list[str]:
    script = "".join(f"{k} {a}\n" for k, a in steps).encode()
    proc = subprocess.run([str(runner), "receive", str(TIMEOUT_MS)], input=script,
                          capture_output=True, check=True)
    return proc.stdout.decode().splitlines()


def fuzz(n_frames: int, seed: int, runner: Path) -> dict[str, int]:
    """Run one fuzz; raises AssertionError on a disagreement, returns the statistics."""
    steps = make_script(n_frames, seed)
    py, stats = run_python(steps)
    c = run_c(runner, steps)
    mismatch = next((i for i, (a, b) in enumerate(zip(py, c, strict=True)) if a != b), None)
    assert mismatch is None, f"step {mismatch}: Python {py[mismatch]} / C {c[mismatch]}"
    stats["steps"] = len(steps)
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--shards", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runner = cbuild.build_runner(Path(tmp))
        total: dict[str, int] = {}
        t0 = time.perf_counter()
        for shard in range(args.shards):
            stats = fuzz(args.frames // args.shards, args.seed + shard, runner)
            for k, v in stats.items():
                total[k] = max(total.get(k, 0), v) if k.startswith("max") else total.get(k, 0) + v
            print(f"shard {shard}: {stats}", flush=True)
    print(f"receiver fuzz: {total} ({time.perf_counter() - t0:.0f} s); Python and C agree on "
          f"every step")
    return 0 if total["wrong"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
