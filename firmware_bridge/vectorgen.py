"""Shared test vectors: frames and receiver scenarios that both decoders must agree on.

``build_vectors()`` produces, from the Python encoder, a JSON document with

- ``vectors``: byte streams (hex) and the exact decoder output expected for each, one line per
  accepted frame (``F version type seq timestamp body``) or rejection (``R reason``);
- ``scenarios``: receiver scripts (``x HEX`` feeds bytes, ``t MS`` lets time pass), the
  receiver's expected class hash and MAC key, and the receiver status after every step
  (``STATE reason command lost stale old foreign rejected ignored``);
- ``ascii``: lines and the canonical parse of each (``OK kind ...`` or a status name).

The file is checked in at ``firmware_bridge/vectors/vectors.json``; ``mi-bridge vectors``
regenerates it and the tests check it is up to date. The Python decoder and receiver and the
C ``vector_runner`` are both run over every entry, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from firmware_bridge import cobs
from firmware_bridge.ascii_mode import describe_line, parse_line_status
from firmware_bridge.crc import crc32
from firmware_bridge.decoder import FrameDecoder, describe
from firmware_bridge.frames import (
    CRC_SIZE,
    MAX_BODY,
    FaultReason,
    FrameEncoder,
    MessageType,
    SequenceCounter,
    class_hash,
    decision_body,
    hello_body,
)
from firmware_bridge.frames import encode_frame as _encode_frame
from firmware_bridge.receiver import Receiver

VECTOR_PATH = Path(__file__).with_name("vectors") / "vectors.json"
CLASSES = ("left", "right", "feet", "rest")
KEY = bytes(range(16))


def _reframe(frame: bytes, mutate) -> bytes:
    """Decode a wire frame, apply ``mutate`` to the raw bytes, fix nothing, re-encode."""
    raw = bytearray(cobs.decode(frame[:-1]))
    mutate(raw)
    return cobs.encode(bytes(raw)) + b"\x00"


def _with_crc(raw: bytes) -> bytes:
    """Raw header+body -> valid wire frame with a correct CRC (for structural vectors)."""
    return cobs.encode(raw + crc32(raw).to_bytes(CRC_SIZE, "little")) + b"\x00"


def encode_frame(*args, session: int = 0x5E55, **kwargs) -> bytes:  # noqa: F811
    """The frames of the vectors belong to session 0x5E55 unless told otherwise."""
    return _encode_frame(*args, session=session, **kwargs)


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
        MessageType.DECISION, 0xFFFFFFFF, 0xFFFFFFFF, decision_body(255, 1.0), session=0xFFFFFFFF
    )
    yield "decision_mac", encode_frame(MessageType.DECISION, 11, 1250, decision_body(1, 0.87),
                                       key=KEY)
    yield "hello_mac", encode_frame(MessageType.HELLO, 12, 1000, hello_body(CLASSES, 4.0, 250),
                                    key=KEY)
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

    yield "crc_flip_class", _reframe(dec, flip(15))
    yield "crc_flip_seq", _reframe(dec, flip(6, 7))
    yield "crc_flip_session", _reframe(dec, flip(3, 1))
    yield "crc_flip_crc", _reframe(dec, flip(len(raw_dec) - 1, 3))
    yield "crc_wire_byte", dec[:3] + bytes((dec[3] ^ 0x40 or 1,)) + dec[4:]
    yield "crc_swapped_bytes", _reframe(dec, lambda r: r.__setitem__(slice(9, 11), r[10:8:-1]))
    yield "cobs_code_past_end", bytes((0x20,)) + dec[1:]
    yield "cobs_truncated", dec[:-4] + b"\x00"
    yield "short_one_byte", b"\x01\x00"
    yield "short_eighteen", cobs.encode(raw_dec[:18]) + b"\x00"
    yield "oversize_garbage", bytes(range(1, 201)) + b"\x00"
    yield "oversize_body", _with_crc(bytes((2, 1) + (0,) * 12 + (MAX_BODY + 9,)) + bytes(73))
    yield "version_0", encode_frame(MessageType.DECISION, 3, 1250, decision_body(1, 0.5), 0)
    yield "version_1", encode_frame(MessageType.HEARTBEAT, 3, 1250, b"", 1)
    yield "version_3", encode_frame(MessageType.HEARTBEAT, 3, 1250, b"", 3)
    yield "length_too_big", _with_crc(bytes((2, 2) + (0,) * 12 + (4, 1, 2, 0)))
    yield "length_too_small", _with_crc(bytes((2, 3) + (0,) * 12 + (0, 7)))
    yield "length_body_over_max", _with_crc(bytes((2, 1) + (0,) * 12 + (72,)) + bytes(72))
    yield "length_mac_flag_without_mac", _with_crc(
        bytes((2, 0x82) + (0,) * 12 + (3, 1, 2, 0))
    )
    yield "type_0", encode_frame(0, 3, 0, b"")
    yield "type_6", encode_frame(6, 3, 0, b"")
    yield "type_127", encode_frame(127, 3, 0, b"\x01\x02\x03")
    yield "type_mac_6", encode_frame(6, 3, 0, b"", key=KEY)
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


Steps = list[tuple[str, str]]


class _Script:
    """Builds receiver scenario steps: ``t`` moves the device clock (and the host's, unless told
    otherwise), ``x`` feeds bytes, ``d`` a DECISION, ``session`` a HELLO of a new session."""

    def __init__(self) -> None:
        self.clock = {"host": 0}
        sids = iter(range(0x1001, 0x2000))
        self.enc = FrameEncoder(SequenceCounter(), clock_ms=lambda: self.clock["host"],
                                session_source=lambda: next(sids))

    def session(self, start: int = 0) -> tuple[str, str]:
        self.enc.sequence = SequenceCounter(start)
        return ("x", self.enc.hello(CLASSES[:2], 4.0, 250).hex())

    def x(self, frame: bytes) -> tuple[str, str]:
        return ("x", frame.hex())

    def d(self, cls: int, conf: float = 0.9, flags: int = 0) -> tuple[str, str]:
        return self.x(self.enc.decision(cls, conf, flags))

    def t(self, ms: int, host: int | None = None) -> tuple[str, str]:
        self.clock["host"] = ms if host is None else host
        return ("t", str(ms))

    def at_seq(self, seq: int, cls: int) -> tuple[str, str]:
        return self.x(encode_frame(MessageType.DECISION, seq, self.clock["host"],
                                   decision_body(cls, 0.9), session=self.enc.session_id))


def _scenario_steps() -> Iterator[tuple[str, int, Steps, int, bytes | None]]:
    """(name, timeout_ms, steps, expected class hash, MAC key) of every receiver scenario.

    The host clock follows the device clock (``t`` moves both) unless a step says otherwise,
    as if the host's timestamps reached the device at once.
    """
    sc = _Script()
    yield from _v1_scenarios(sc)
    yield from _issue10_scenarios(sc)


def _v1_scenarios(sc: _Script) -> Iterator[tuple[str, int, Steps, int, bytes | None]]:
    session, x, d, t, at_seq, enc = sc.session, sc.x, sc.d, sc.t, sc.at_seq, sc.enc
    yield "boot_stays_safe", 500, [t(0), t(10_000)], 0, None
    yield "hello_decisions_timeout", 500, [
        t(1000), session(), d(0), t(1250), d(1), t(1500), x(enc.heartbeat()),
        t(1999), t(2000), t(2001), t(2499), t(2501),
    ], 0, None
    yield "gaps_and_stale", 500, [
        t(0), session(), at_seq(1, 0), at_seq(1, 1), at_seq(5, 1), at_seq(3, 0),
        at_seq(40000, 0), at_seq(6, 0), at_seq(40000 + (1 << 31), 1),
    ], 0, None
    yield "seq_wraps", 500, [t(5), session(0xFFFFFFFE), d(0), d(1), d(0), d(1)], 0, None
    hello = session()
    corrupt = _reframe(enc.decision(0, 0.9), lambda raw: raw.__setitem__(15, raw[15] ^ 1))
    yield "crc_error_holds_then_expires", 300, [
        t(100), hello, d(1), t(200), x(corrupt), t(400), t(401),
    ], 0, None
    yield "hold_and_out_of_range", 500, [
        t(0), session(), d(1), d(0, 0.3, 1), d(1), d(7), d(1, 0.9, 2),
    ], 0, None
    yield "fault_needs_hello", 500, [
        t(0), session(), d(1), x(enc.fault(FaultReason.BOARD_LOST)), d(1),
        x(enc.heartbeat()), x(enc.hello(CLASSES[:2], 4.0)), d(1),
    ], 0, None
    yield "stop_needs_hello", 500, [
        t(0), session(), d(0), x(enc.stop()), d(0), t(5000), d(0),
    ], 0, None
    yield "version_goes_safe", 500, [
        t(0), session(), d(0), x(encode_frame(MessageType.DECISION, 99, 0, b"\0\xff\0", 1)),
        d(0), x(enc.hello(CLASSES[:2], 4.0)), d(0),
    ], 0, None
    yield "heartbeat_after_timeout_stays_safe", 200, [
        t(0), session(), d(0), t(150), t(201), x(enc.heartbeat()), d(1), t(300),
        x(enc.hello(CLASSES[:2], 4.0)), d(1),
    ], 0, None
    yield "millis_wraps", 500, [
        t(0xFFFFFF00), session(), d(0), t(0xFFFFFFFF), t(200), t(244), t(245),
    ], 0, None
    hello = session()
    yield "split_bytes_garbage", 500, [
        t(0), ("x", "0102030405"), ("x", "00"), ("x", hello[1][:10]), ("x", hello[1][10:]), d(1),
    ], 0, None


def _issue10_scenarios(sc: _Script) -> Iterator[tuple[str, int, Steps, int, bytes | None]]:
    """Stale, replayed and unlinked frames (issue 10)."""
    session, x, d, t = sc.session, sc.x, sc.d, sc.t
    enc, clock = sc.enc, sc.clock
    yield "boot_decision_ignored", 500, [t(0), d(1), x(enc.heartbeat()), d(0)], 0, None
    steps = [t(0), session(), d(1)]
    buffered = []
    for ms in range(100, 8100, 100):  # frozen reader: 8 s of frames sit in a buffer
        clock["host"] = ms
        buffered.append(enc.decision(ms // 100 % 2, 0.9).hex())
    steps += [t(8000), ("x", "".join(buffered)), t(8100), session(), d(1)]
    yield "frozen_reader", 500, steps, 0, None
    steps = [t(0), session()]
    for k in range(1, 41):  # slow reader: written every 50 ms, read every 150 ms
        clock["host"] = 50 * k
        frame = enc.decision(k % 2, 0.9)
        steps += [("t", str(150 * k)), x(frame)]
    yield "slow_reader", 500, steps, 0, None
    first = session()
    recorded = [d(1), d(0)]
    yield "cross_session_replay", 500, [
        t(0), first, *recorded, session(), d(0, 0.5, 1), *recorded,
    ], 0, None
    hello = session()
    early = d(1)
    yield "replayed_hello", 500, [
        t(0), hello, early, d(0, 0.5, 1), hello, early, d(0, 0.5, 1),
    ], 0, None
    yield "wrong_class_hash", 500, [
        t(0), x(enc.hello(["feet", "tongue"], 4.0)), d(1), x(enc.hello(CLASSES[:2], 4.0)), d(1),
        x(enc.hello(CLASSES[:2], 4.0, send_names=False)), d(0),
    ], class_hash(CLASSES[:2]), None
    steps = [t(1000), session(), d(1)]
    yield "old_timestamp", 500, [
        *steps, t(1100, host=500), d(0), t(1200, host=700), d(0), t(1300, host=5000), d(1),
        t(1400), d(0),
    ], 0, None
    yield "old_hello_while_linked", 500, [
        t(3000), session(), d(1), t(3100, host=1000), session(), d(0), t(3200), d(1),
    ], 0, None
    mac = FrameEncoder(SequenceCounter(), clock_ms=lambda: clock["host"], key=KEY,
                       session_source=lambda: 0xABCD)
    forged = FrameEncoder(SequenceCounter(100), clock_ms=lambda: clock["host"], key=bytes(16),
                          session_source=lambda: 0xABCD)
    forged.session_id = 0xABCD
    yield "mac_required", 500, [
        t(0), x(mac.hello(CLASSES[:2], 4.0)), x(mac.decision(1, 0.9)),
        x(encode_frame(MessageType.DECISION, 50, 0, decision_body(0, 0.9), session=0xABCD)),
        x(forged.decision(0, 0.9)), x(mac.decision(0, 0.9)), x(forged.stop()),
        x(mac.stop()),
    ], class_hash(CLASSES[:2]), KEY


ASCII_LINES = [
    b"L 0.87", b"R 1.00", b"abc_DEF9 0.00", b"-", b"- 0.41", b"!HB", b"!STOP", b"!HB\r",
    b"\x00!HELLO L=left R=right", b"\x00\r\x00L 0.50", b"!FAULT board_lost", b"!FAULT ",
    b"!HELLO ", b"", b"\r", b"\x00", b"L 1.01", b"L 2.00", b"L 0.8", b"L 0.871", b"L  0.87",
    b"ABCDEFGHI 0.10", b"L-0.87", b"l 0.5x", b"!HELLO caf\xc3\xa9", b"!hb", b"- 9.99",
    b"-- 0.10", b"L 0.87 ", b"!HELLO " + b"x" * 73, b"!HELLO " + b"x" * 74, b"\x00" * 81,
]


def run_scenario(
    timeout_ms: int, steps: Steps, expected_hash: int = 0, key: bytes | None = None
) -> list[str]:
    """Run a receiver script through the Python decoder + receiver; one status per step."""
    decoder = FrameDecoder(key=key)
    receiver = Receiver(timeout_ms, class_hash=expected_hash)
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
        keyed = [describe(e) for e in FrameDecoder(key=KEY).feed(wire)]
        vectors.append({"name": name, "wire": wire.hex(), "expect": lines, "expect_key": keyed})
    scenarios = []
    for name, timeout_ms, steps, expected_hash, key in _scenario_steps():
        scenarios.append(
            {
                "name": name,
                "timeout_ms": timeout_ms,
                "class_hash": expected_hash,
                "key": key.hex() if key else "",
                "steps": [[kind, arg] for kind, arg in steps],
                "expect": run_scenario(timeout_ms, steps, expected_hash, key),
            }
        )
    ascii_vectors = [
        {"line": line.hex(), "expect": describe_line(*parse_line_status(line))}
        for line in ASCII_LINES
    ]
    return {
        "about": "mi-edge serial protocol test vectors; regenerate with `mi-bridge vectors`",
        "protocol_version": 2,
        "decoder_line": "F version type session seq timestamp_ms body_hex|- [A] or R reason",
        "receiver_line": "STATE safe_reason command lost stale old foreign rejected ignored",
        "mac_key": KEY.hex(),
        "vectors": vectors,
        "scenarios": scenarios,
        "ascii": ascii_vectors,
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
