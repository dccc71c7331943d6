"""Issue 10: stale, replayed and unlinked commands must never reach the device output.

Each test reproduces one defect measured in the issue with the receiver rules alone (no pty);
the emulator-over-pty acceptance tests are in test_bridge_emulator.py.
"""

from __future__ import annotations

from firmware_bridge.decoder import FrameDecoder
from firmware_bridge.frames import FrameEncoder, SequenceCounter, class_hash
from firmware_bridge.receiver import Receiver, SafeReason

NAMES = ["left", "right"]


class Clock:
    def __init__(self, t: int = 1000) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def feed(rx: Receiver, wire: bytes, now: int, key: bytes | None = None) -> None:
    for event in FrameDecoder(key=key).feed(wire):
        rx.on_event(event, now)


def session(host: Clock, sid: int = 0x1234) -> FrameEncoder:
    return FrameEncoder(SequenceCounter(), clock_ms=host, session_source=lambda: sid)


def test_frozen_device_refuses_buffered_commands_after_resume():
    host, rx = Clock(0), Receiver(500)
    enc = session(host)
    feed(rx, enc.hello(NAMES, 4.0), 0)
    buffered = b""
    for t in range(100, 8000, 100):  # the device is frozen: frames pile up in a buffer
        host.t = t
        buffered += enc.decision(1, 0.9)
    rx.tick(8000)
    feed(rx, buffered, 8000)
    assert rx.command == -1 and rx.is_safe and rx.old > 70


def test_slow_reader_refuses_commands_older_than_timeout():
    host, rx = Clock(0), Receiver(500)
    enc = session(host)
    feed(rx, enc.hello(NAMES, 4.0), 0)
    used_ages = []
    for k in range(1, 200):  # written every 50 ms, read every 150 ms
        host.t = 50 * k
        rx.tick(150 * k)
        feed(rx, enc.decision(k % 2, 0.9), 150 * k)
        if rx.last_outcome == "used":
            used_ages.append(150 * k - host.t)
    assert used_ages and max(used_ages) <= 500


def test_decision_of_another_session_is_foreign():
    host, rx = Clock(), Receiver(500)
    old = session(host, 1)
    feed(rx, old.hello(NAMES, 4.0), 1000)
    recorded = old.decision(1, 0.9)
    new = session(host, 2)
    feed(rx, new.hello(NAMES, 4.0), 1000)
    feed(rx, recorded, 1000)
    assert rx.command == -1 and rx.foreign == 1 and rx.last_outcome == "foreign"


def test_replayed_hello_cannot_rewind_the_sequence():
    host, rx = Clock(), Receiver(500)
    enc = session(host)
    hello = enc.hello(NAMES, 4.0)
    feed(rx, hello, 1000)
    early = enc.decision(1, 0.9)
    feed(rx, early, 1000)
    feed(rx, enc.decision(0, 0.9, 1), 1000)
    feed(rx, hello + early, 1000)
    assert rx.command == -1 and rx.stale == 2


def test_frame_40000_old_is_stale():
    host, rx = Clock(), Receiver(500)
    enc = FrameEncoder(SequenceCounter(0), clock_ms=host, session_source=lambda: 9)
    feed(rx, enc.hello(NAMES, 4.0), 1000)
    first = enc.decision(1, 0.9)
    enc.sequence = SequenceCounter(40_001)
    feed(rx, enc.decision(0, 0.9, 1), 1000)
    feed(rx, first, 1000)
    assert rx.command == -1 and rx.stale == 1


def test_heartbeat_after_timeout_does_not_relink():
    host, rx = Clock(0), Receiver(500)
    enc = session(host)
    feed(rx, enc.hello(NAMES, 4.0), 0)
    rx.tick(600)
    host.t = 600
    feed(rx, enc.heartbeat() + enc.decision(1, 0.9), 600)
    assert rx.is_safe and rx.safe_reason == SafeReason.TIMEOUT and rx.command == -1


def test_decision_at_boot_without_hello_is_ignored():
    rx = Receiver(500)
    feed(rx, session(Clock()).decision(7, 0.9), 1000)
    assert rx.is_safe and rx.safe_reason == SafeReason.BOOT and rx.ignored == 1


def test_class_index_checked_against_hello():
    host, rx = Clock(), Receiver(500)
    enc = session(host)
    feed(rx, enc.hello(NAMES, 4.0, send_names=False) + enc.decision(2, 0.9), 1000)
    assert rx.command == -1 and rx.ignored == 1


def test_hello_of_another_model_is_refused():
    host, rx = Clock(), Receiver(500, class_hash=class_hash(NAMES))
    enc = session(host)
    feed(rx, enc.hello(["feet", "tongue"], 4.0) + enc.decision(1, 0.9), 1000)
    assert rx.is_safe and rx.safe_reason == SafeReason.MODEL and rx.command == -1
    feed(rx, enc.hello(NAMES, 4.0) + enc.decision(1, 0.9), 1000)
    assert rx.command == 1
    assert Receiver(500, class_hash=0).expected_class_hash == 0  # 0 accepts any model


def test_mac_key_rejects_unauthenticated_and_forged_frames():
    key = bytes(range(16))
    host, rx = Clock(), Receiver(500)
    enc = FrameEncoder(clock_ms=host, key=key, session_source=lambda: 5)
    feed(rx, enc.hello(NAMES, 4.0) + enc.decision(1, 0.9), 1000, key=key)
    assert rx.command == 1
    plain = session(host, 5)
    plain.sequence = SequenceCounter(100)
    forged = FrameEncoder(SequenceCounter(200), clock_ms=host, key=bytes(16),
                          session_source=lambda: 5)
    forged.hello(NAMES, 4.0)
    feed(rx, plain.decision(0, 0.9) + forged.decision(0, 0.9), 1000, key=key)
    assert rx.command == 1 and rx.rejected == 2
