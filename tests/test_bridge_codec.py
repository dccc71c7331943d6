"""Python codec of the firmware bridge: CRC, COBS, encoder, streaming decoder, vectors, ASCII."""

from __future__ import annotations

import pytest

from firmware_bridge import cobs, vectorgen
from firmware_bridge.ascii_mode import AsciiDecoder, AsciiEncoder, default_labels
from firmware_bridge.crc import CHECK_VALUE, crc32, crc32_reference
from firmware_bridge.decoder import FrameDecoder, Rejection, RejectReason, describe
from firmware_bridge.frames import (
    MAX_FRAME,
    Decision,
    DecisionFlags,
    Fault,
    FaultReason,
    Frame,
    FrameEncoder,
    FrameError,
    Heartbeat,
    Hello,
    SequenceCounter,
    Stop,
    class_hash,
    random_session_id,
)
from firmware_bridge.receiver import Receiver


def test_crc32_check_value_and_reference():
    assert crc32(b"123456789") == CHECK_VALUE == crc32_reference(b"123456789")
    for data in (b"", b"\x00", bytes(range(256)), b"\xff" * 77):
        assert crc32(data) == crc32_reference(data)


@pytest.mark.parametrize(
    ("data", "encoded"),
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    ],
)
def test_cobs_known_encodings(data, encoded):
    assert cobs.encode(data) == encoded
    assert cobs.decode(encoded) == data


def test_cobs_rejects_malformed():
    with pytest.raises(cobs.CobsError):
        cobs.decode(b"\x05\x01")
    assert cobs.decode_lenient(b"\x05\x01") == (b"\x01", False)


def _decode_one(wire: bytes) -> Frame:
    (event,) = FrameDecoder().feed(wire)
    assert isinstance(event, Frame), event
    return event


def test_encoder_round_trip_every_message():
    enc = FrameEncoder(SequenceCounter(2**32 - 1), clock_ms=lambda: 2**32 + 5,
                       session_source=lambda: 0xC0FFEE)
    names = ["left", "right", "feet"]
    hello = _decode_one(enc.hello(names, 4.0, 250))
    assert hello.seq == 2**32 - 1 and hello.timestamp_ms == 5  # both wrap by definition
    assert hello.session == 0xC0FFEE == enc.session_id
    assert hello.message == Hello(400, 250, 3, class_hash(names), tuple(names))
    decision = _decode_one(enc.decision(2, 0.87, DecisionFlags.ARTIFACT))
    assert decision.seq == 0 and decision.session == 0xC0FFEE
    assert decision.message == Decision(2, 222, 2)
    assert abs(decision.message.confidence - 0.87) < 1 / 255
    assert _decode_one(enc.heartbeat()).message == Heartbeat()
    assert _decode_one(enc.fault(FaultReason.BOARD_LOST)).message == Fault(1)
    assert _decode_one(enc.stop()).message == Stop()
    hash_only = _decode_one(enc.hello(names, 4.0, send_names=False)).message
    assert hash_only.class_names == () and hash_only.class_hash == class_hash(names)


def test_encoded_frames_have_one_delimiter_and_fit():
    enc = FrameEncoder(key=bytes(16))
    frame = enc.hello(["x" * 27, "y" * 27], 4.0)
    assert frame.count(0) == 1 and frame.endswith(b"\x00")
    assert len(cobs.decode(frame[:-1])) == MAX_FRAME
    assert random_session_id() != random_session_id()  # 32 random bits: collision 2**-32


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.decision(256, 0.5),
        lambda e: e.decision(0, 1.5),
        lambda e: e.decision(0, 0.5, 4),
        lambda e: e.hello([], 4.0),
        lambda e: e.hello(["a\nb"], 4.0),
        lambda e: e.hello(["long-name"] * 8, 4.0),
        lambda e: e.hello(["a"], 1000.0),
        lambda e: e.fault(300),
    ],
)
def test_encoder_rejects_bad_values_with_a_reason(call):
    with pytest.raises(FrameError, match=r"\w"):
        call(FrameEncoder())


def test_decoder_is_independent_of_chunking():
    enc = FrameEncoder()
    stream = b"\x00" + enc.hello(["a", "b"], 2) + b"\x13\x37\x00" + enc.decision(1, 0.5) * 3
    whole = [describe(e) for e in FrameDecoder().feed(stream)]
    assert [line[0] for line in whole] == ["F", "R", "F", "F", "F"]
    for size in (1, 2, 3, 7, 64):
        dec = FrameDecoder()
        got = []
        for i in range(0, len(stream), size):
            got += [describe(e) for e in dec.feed(stream[i : i + size])]
        assert got == whole


def test_decoder_bounds_memory_and_recovers():
    dec = FrameDecoder()
    assert dec.feed(b"\x42" * 100_000) == []
    assert len(dec._pending) <= 2 * MAX_FRAME
    events = dec.feed(b"\x00" + FrameEncoder().heartbeat())
    assert isinstance(events[0], Rejection) and events[0].reason == RejectReason.OVERSIZE
    assert isinstance(events[1], Frame)
    assert dec.n_rejected[RejectReason.OVERSIZE] == 1 and dec.n_frames == 1


def test_vector_file_is_up_to_date():
    on_disk = vectorgen.VECTOR_PATH.read_text(encoding="utf-8")
    assert on_disk == vectorgen.dumps(vectorgen.build_vectors()), "run `mi-bridge vectors`"


def test_vectors_cover_every_reason_and_type():
    doc = vectorgen.load_vectors()
    lines = [line for v in doc["vectors"] for line in v["expect"] + v["expect_key"]]
    for reason in RejectReason:
        assert f"R {reason.name.lower()}" in lines
    for msg_type in range(1, 6):
        assert any(line.startswith(f"F 2 {msg_type} ") for line in lines)
    assert any(line.endswith(" A") for line in lines)


def test_python_decoder_matches_every_vector():
    for vector in vectorgen.load_vectors()["vectors"]:
        got = [describe(e) for e in FrameDecoder().feed(bytes.fromhex(vector["wire"]))]
        assert got == vector["expect"], vector["name"]
        key = bytes.fromhex(vectorgen.load_vectors()["mac_key"])
        got = [describe(e) for e in FrameDecoder(key).feed(bytes.fromhex(vector["wire"]))]
        assert got == vector["expect_key"], vector["name"]


def test_python_receiver_matches_every_scenario():
    for scenario in vectorgen.load_vectors()["scenarios"]:
        steps = [tuple(step) for step in scenario["steps"]]
        key = bytes.fromhex(scenario["key"]) or None
        got = vectorgen.run_scenario(scenario["timeout_ms"], steps, scenario["class_hash"], key)
        assert got == scenario["expect"], scenario["name"]


def test_receiver_goes_safe_on_timeout_and_reports_events():
    enc = FrameEncoder()
    dec = FrameDecoder()
    rx = Receiver(timeout_ms=100)
    kinds = []
    for frame in (enc.hello(["l", "r"], 4), enc.decision(1, 0.9)):
        for event in dec.feed(frame):
            kinds += [e.kind for e in rx.on_event(event, now_ms=0)]
    assert kinds == ["state", "command"] and rx.command == 1
    assert rx.tick(100) == [] and not rx.is_safe
    assert [e.kind for e in rx.tick(101)] == ["command", "state"]
    assert rx.is_safe and rx.command == -1 and rx.safe_reason.name == "TIMEOUT"


def test_ascii_mode_round_trip_and_limits():
    names = ["left", "right"]
    enc = AsciiEncoder(names)
    assert enc.decision(0, 0.87) == b"L 0.87\n"
    assert enc.decision(1, 0.98, DecisionFlags.HOLD) == b"-\n"  # no misleading confidence
    assert enc.fault(FaultReason.BOARD_LOST) == b"!FAULT board_lost\n"
    stream = enc.hello() + enc.decision(1, 1.0) + b"L 1.50\nZZZZZZZZZZ 0.1\n" + enc.stop()
    parsed = AsciiDecoder().feed(stream)
    assert [p.kind if p else None for p in parsed] == ["hello", "decision", None, None, "stop"]
    assert AsciiDecoder().feed(b"x" * 500 + b"\nR 0.50\n")[1].label == "R"
    with pytest.raises(FrameError):
        default_labels(["left", "lift"])
