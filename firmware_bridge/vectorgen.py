"""Shared test vectors: frames and receiver scenarios that both decoders must agree on.

``build_vectors()`` produces, from the Python encoder, a JSON document with

- ``vectors``: byte streams (hex) and the exact decoder output expected for each, one line per
  accepted frame (``F version type seq timestamp body``) or rejection (``R reason``);
- ``scenarios``: receiver scripts (``x HEX`` feeds bytes, ``t MS`` lets time pass) and the
  receiver status after every step (``STATE reason command lost stale rejected ignored``).

The file is checked in at ``firmware_bridge/vectors/vectors.json``; ``mi-bridge vectors``
regenerates it and the tests check it is up to date. The Python decoder and receiver and the
C ``vector_runner`` are both run over every entry, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from firmware_bridge import cobs
from firmware_bridge.crc import crc32
from firmware_bridge.decoder import FrameDecoder, describe
from firmware_bridge.frames import (
    CRC_SIZE,
    MAX_BODY,
    FaultReason,
    FrameEncoder,
    MessageType,
    SequenceCounter,
    decision_body,
    encode_frame,
    hello_body,
)
from firmware_bridge.receiver import Receiver

VECTOR_PATH = Path(__file__).with_name("vectors") / "vectors.json"
CLASSES = ("left", "right", "feet", "rest")


def _reframe(frame: bytes, mutate) -> bytes:
    """Decode a wire frame, apply ``mutate`` to the raw bytes, fix nothing, re-encode."""
    raw = bytearray(cobs.decode(frame[:-1]))
    mutate(raw)
    return cobs.encode(bytes(raw)) + b"\x00"


def _with_crc(raw: bytes) -> bytes:
    """Raw header+body -> valid wire frame with a correct CRC (for structural vectors)."""
    return cobs.encode(raw + crc32(raw).to_bytes(CRC_SIZE, "little")) + b"\x00"


def _valid() -> Iterator[tuple[str, bytes]]:
    yield "hello_names", encode_frame(MessageType.HELLO, 0, 1000, hello_body(CLASSES, 4.0, 250))
    yield "hello_hash_only", encode_frame(
        MessageType.HELLO, 1, 1000, hello_body(CLASSES, 16.0, 100, send_names=False)
    )
    yield "hello_one_class", encode_frame(MessageType.HELLO, 2, 3, hello_body(["go"], 0.5, 0))
    yield "decision", encode_frame(MessageType.DECISION, 3, 1250, decision_body(1, 0.87))
    yield "decision_hold", encode_frame(MessageType.DECISION, 4, 1500, decision_body(0, 0.4, 1))
    yield "decision_artifact", encode_frame(
        MessageType.DECISION, 5, 1750, decision_body(3, 1.0, 3)
    )
    yield "decision_zeros", encode_frame(MessageType.DECISION, 0, 0, decision_body(0, 0.0, 0))
    yield "decision_wrap", encode_frame(
        MessageType.DECISION, 0xFFFF, 0xFFFFFFFF, decision_body(255, 1.0)
    )
    yield "heartbeat", encode_frame(MessageType.HEARTBEAT, 6, 2000)
    for reason in FaultReason:
        yield f"fault_{reason.name.lower()}", encode_frame(
            MessageType.FAULT, 7, 2100, bytes((reason,))
        )
    yield "fault_unknown_reason", encode_frame(MessageType.FAULT, 8, 2200, b"\xee")
    yield "stop", encode_frame(MessageType.STOP, 9, 2300)
    yield "hello_max_body", encode_frame(
        MessageType.HELLO, 10, 2400, hello_body(["x" * 27, "y" * 27], 4.0, 250)
    )


def _streams() -> Iterator[tuple[str, bytes]]:
    """Valid frames, then corrupted ones crafted to hit each rejection, then stream cases."""
    frames = dict(_valid())
    yield from frames.items()
    dec = frames["decision"]
    raw_dec = cobs.decode(dec[:-1])

    def flip(i: int, bit: int = 0):
        return lambda raw: raw.__setitem__(i, raw[i] ^ (1 << bit))

    yield "crc_flip_class", _reframe(dec, flip(9))
    yield "crc_flip_seq", _reframe(dec, flip(2, 7))
    yield "crc_flip_crc", _reframe(dec, flip(len(raw_dec) - 1, 3))
    yield "crc_wire_byte", dec[:3] + bytes((dec[3] ^ 0x40 or 1,)) + dec[4:]
    yield "crc_swapped_bytes", _reframe(dec, lambda r: r.__setitem__(slice(9, 11), r[10:8:-1]))
    yield "cobs_code_past_end", bytes((0x20,)) + dec[1:]
    yield "cobs_truncated", dec[:-4] + b"\x00"
    yield "short_one_byte", b"\x01\x00"
    yield "short_twelve", cobs.encode(raw_dec[:12]) + b"\x00"
    yield "oversize_garbage", bytes(range(1, 201)) + b"\x00"
    yield "oversize_body", _with_crc(bytes((1, 1, 0, 0, 0, 0, 0, 0, MAX_BODY + 1)) + bytes(65))
    yield "version_0", encode_frame(MessageType.DECISION, 3, 1250, decision_body(1, 0.5), 0)
    yield "version_2", encode_frame(MessageType.HEARTBEAT, 3, 1250, b"", 2)
    yield "length_too_big", _with_crc(bytes((1, 2, 3, 0, 0, 0, 0, 0, 4, 1, 2, 0)))
    yield "length_too_small", _with_crc(bytes((1, 3, 3, 0, 0, 0, 0, 0, 0, 7)))
    yield "type_0", encode_frame(0, 3, 0, b"")
    yield "type_6", encode_frame(6, 3, 0, b"")
    yield "type_255", encode_frame(255, 3, 0, b"\x01\x02\x03")
    yield "body_decision_short", encode_frame(MessageType.DECISION, 3, 0, b"\x01\x02")
    yield "body_decision_long", encode_frame(MessageType.DECISION, 3, 0, b"\x01\x02\x00\x00")
    yield "body_decision_reserved_flag", encode_frame(MessageType.DECISION, 3, 0, b"\x01\x02\x04")
    yield "body_heartbeat_nonempty", encode_frame(MessageType.HEARTBEAT, 3, 0, b"\x00")
    yield "body_stop_nonempty", encode_frame(MessageType.STOP, 3, 0, b"\x01")
    yield "body_fault_empty", encode_frame(MessageType.FAULT, 3, 0, b"")
    yield "body_fault_long", encode_frame(MessageType.FAULT, 3, 0, b"\x01\x01")
    yield "body_hello_short", encode_frame(MessageType.HELLO, 3, 0, hello_body(CLASSES, 4, 250)[:8])
    good_hello = hello_body(CLASSES, 4.0, 250)
    yield "body_hello_zero_classes", encode_frame(
        MessageType.HELLO, 3, 0, good_hello[:4] + b"\x00" + good_hello[5:]
    )
    yield "body_hello_class_count", encode_frame(
        MessageType.HELLO, 3, 0, good_hello[:4] + b"\x03" + good_hello[5:]
    )
    yield "body_hello_hash", encode_frame(
        MessageType.HELLO, 3, 0, good_hello[:5] + b"\x00\x00\x00\x00" + good_hello[9:]
    )
    # Streams with several events.
    yield "two_frames", frames["hello_names"] + dec
    yield "leading_delimiters", b"\x00\x00\x00" + dec + b"\x00\x00"
    yield "garbage_then_frame", b"\x07\x07\xff\x13" + b"\x00" + dec
    yield "joined_mid_frame", dec[5:] + dec
    yield "truncated_then_frame", dec[:7] + dec
    yield "partial_tail_pending", dec + dec[:6]
    yield "corrupt_between_valid", dec + _reframe(dec, flip(12, 5)) + frames["stop"]


def _scenario_steps() -> Iterator[tuple[str, int, list[tuple[str, str]]]]:
    enc = FrameEncoder(SequenceCounter(), clock_ms=lambda: 0)

    def session(start: int = 0) -> tuple[str, str]:
        enc.sequence = SequenceCounter(start)
        return ("x", enc.hello(CLASSES[:2], 4.0, 250).hex())

    def x(frame: bytes) -> tuple[str, str]:
        return ("x", frame.hex())

    def d(cls: int, conf: float = 0.9, flags: int = 0) -> tuple[str, str]:
        return x(enc.decision(cls, conf, flags))

    def t(ms: int) -> tuple[str, str]:
        return ("t", str(ms))

    def at_seq(seq: int, cls: int) -> tuple[str, str]:
        return x(encode_frame(MessageType.DECISION, seq, 0, decision_body(cls, 0.9)))

    yield "boot_stays_safe", 500, [t(0), t(10_000)]
    yield "hello_decisions_timeout", 500, [
        t(1000), session(), d(0), t(1250), d(1), t(1500), x(enc.heartbeat()),
        t(1999), t(2000), t(2001), t(2499), t(2501),
    ]
    yield "gaps_and_stale", 500, [
        t(0), session(), at_seq(1, 0), at_seq(1, 1), at_seq(5, 1), at_seq(3, 0),
        at_seq(40000, 0), at_seq(6, 0),
    ]
    yield "seq_wraps", 500, [t(5), session(65534), d(0), d(1), d(0), d(1)]
    hello = session()
    corrupt = _reframe(enc.decision(0, 0.9), lambda raw: raw.__setitem__(9, raw[9] ^ 1))
    yield "crc_error_holds_then_expires", 300, [
        t(100), hello, d(1), t(200), x(corrupt), t(400), t(401),
    ]
    yield "hold_and_out_of_range", 500, [
        t(0), session(), d(1), d(0, 0.3, 1), d(1), d(7), d(1, 0.9, 2),
    ]
    yield "fault_needs_hello", 500, [
        t(0), session(), d(1), x(enc.fault(FaultReason.BOARD_LOST)), d(1),
        x(enc.heartbeat()), x(enc.hello(CLASSES[:2], 4.0)), d(1),
    ]
    yield "stop_needs_hello", 500, [
        t(0), session(), d(0), x(enc.stop()), d(0), t(5000), d(0),
    ]
    yield "version_goes_safe", 500, [
        t(0), session(), d(0), x(encode_frame(MessageType.DECISION, 99, 0, b"\0\xff\0", 2)),
        d(0), x(enc.hello(CLASSES[:2], 4.0)), d(0),
    ]
    enc.sequence = SequenceCounter()
    yield "timeout_then_decision_relinks", 200, [t(0), d(0), t(150), t(201), d(1), t(300)]
    yield "millis_wraps", 500, [
        t(0xFFFFFF00), session(), d(0), t(0xFFFFFFFF), t(200), t(244), t(245),
    ]
    hello = session()
    yield "split_bytes_garbage", 500, [
        t(0), ("x", "0102030405"), ("x", "00"), ("x", hello[1][:10]), ("x", hello[1][10:]), d(1),
    ]


def run_scenario(timeout_ms: int, steps: list[tuple[str, str]]) -> list[str]:
    """Run a receiver script through the Python decoder + receiver; one status per step."""
    decoder = FrameDecoder()
    receiver = Receiver(timeout_ms)
    now = 0
    out = []
    for kind, arg in steps:
        if kind == "t":
            now = int(arg)
            receiver.tick(now)
        else:
            for event in decoder.feed(bytes.fromhex(arg)):
                receiver.on_event(event, now)
        out.append(receiver.status_line())
    return out


def build_vectors() -> dict[str, object]:
    """The complete vector document (deterministic)."""
    vectors = []
    for name, wire in _streams():
        lines = [describe(e) for e in FrameDecoder().feed(wire)]
        vectors.append({"name": name, "wire": wire.hex(), "expect": lines})
    scenarios = []
    for name, timeout_ms, steps in _scenario_steps():
        scenarios.append(
            {
                "name": name,
                "timeout_ms": timeout_ms,
                "steps": [[kind, arg] for kind, arg in steps],
                "expect": run_scenario(timeout_ms, steps),
            }
        )
    return {
        "about": "mi-edge serial protocol test vectors; regenerate with `mi-bridge vectors`",
        "protocol_version": 1,
        "decoder_line": "F version type seq timestamp_ms body_hex|- or R reason",
        "receiver_line": "STATE safe_reason command lost stale rejected ignored",
        "vectors": vectors,
        "scenarios": scenarios,
    }


def dumps(doc: dict[str, object]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def write_vectors(path: Path = VECTOR_PATH) -> Path:
    """Regenerate the vector file; returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(build_vectors()), encoding="utf-8")
    return path


def load_vectors(path: Path = VECTOR_PATH) -> dict[str, object]:
    return json.loads(path.read_text(encoding="utf-8"))
