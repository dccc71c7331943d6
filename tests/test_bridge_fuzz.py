"""Fuzzing the decoders: round trips, and corrupted streams that must never yield a wrong frame.

The seeded loop runs 4 x 25 000 = 10^5 corrupted streams through the Python decoder and the same
streams through the C decoder (``vector_runner``); every accepted frame must be one of the frames
that were sent, and both decoders must print identical lines. Hypothesis adds shrinkable
properties on top.
"""

from __future__ import annotations

import random
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import cbuild
from firmware_bridge.decoder import FrameDecoder, Rejection, describe
from firmware_bridge.frames import (
    MAX_BODY,
    FrameEncoder,
    MessageType,
    SequenceCounter,
    decision_body,
    encode_frame,
    hello_body,
)

STREAMS_PER_SHARD = 25_000
SHARDS = 4
NAMES = ["left", "right", "feet", "tongue"]


def frame_pool(rng: random.Random, n: int = 1500) -> list[bytes]:
    """Valid frames of every type with random fields."""
    pool = []
    for _ in range(n):
        seq, ts = rng.randrange(1 << 16), rng.randrange(1 << 32)
        kind = rng.choice([2, 2, 2, 2, 1, 3, 4, 5])
        if kind == 1:
            names = NAMES[: rng.randint(1, 4)]
            rate, heartbeat = rng.uniform(0, 600), rng.randrange(1 << 16)
            body = hello_body(names, rate, heartbeat, send_names=rng.random() < 0.7)
        elif kind == 2:
            body = decision_body(rng.randrange(256), rng.random(), rng.randrange(4))
        elif kind == 4:
            body = bytes((rng.randrange(256),))
        else:
            body = b""
        pool.append(encode_frame(kind, seq, ts, body))
    return pool


def corrupt(rng: random.Random, pool: list[bytes]) -> bytes:
    """A stream of 1-4 valid frames damaged in one of nine ways."""
    s = bytearray(b"".join(rng.choice(pool) for _ in range(rng.randint(1, 4))))
    n = len(s)
    mode = rng.randrange(9)
    if mode == 0:  # bit flips, delimiters included
        for _ in range(rng.randint(1, 4)):
            s[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif mode == 1:  # random byte substitutions
        for _ in range(rng.randint(1, 8)):
            s[rng.randrange(n)] = rng.randrange(256)
    elif mode == 2:  # a burst of noise
        a = rng.randrange(n)
        s[a : a + rng.randint(2, 24)] = rng.randbytes(rng.randint(2, 24))
    elif mode == 3:  # inserted bytes
        a = rng.randrange(n)
        s[a:a] = rng.randbytes(rng.randint(1, 8))
    elif mode == 4:  # dropped bytes
        a = rng.randrange(n)
        del s[a : a + rng.randint(1, 8)]
    elif mode == 5:  # truncated, then another stream
        s = s[: rng.randrange(n)] + b"".join(rng.choice(pool) for _ in range(rng.randint(1, 2)))
    elif mode == 6:  # a middle piece cut out
        a, b = sorted((rng.randrange(n), rng.randrange(n)))
        del s[a:b]
    elif mode == 7:  # pure garbage with some delimiters
        s = bytearray(rng.choice((0, 0, rng.randrange(256))) for _ in range(rng.randint(1, 120)))
    else:  # a piece repeated elsewhere (replayed fragment)
        a = rng.randrange(n)
        piece = s[a : a + rng.randint(1, 30)]
        b = rng.randrange(n)
        s[b:b] = piece
    return bytes(s)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    if cbuild.missing_tools():
        pytest.skip(f"missing {cbuild.missing_tools()} (make system-deps)")
    return cbuild.build_runner(tmp_path_factory.mktemp("cbuild"))


@pytest.mark.parametrize("shard", range(SHARDS))
def test_corrupted_streams_never_accept_a_wrong_frame(shard, runner):
    rng = random.Random(20240 + shard)
    pool = frame_pool(rng)
    sent = {describe(FrameDecoder().feed(frame)[0]) for frame in pool}
    streams = [corrupt(rng, pool) for _ in range(STREAMS_PER_SHARD)]
    py_lines = []
    accepted = rejected = 0
    for stream in streams:
        lines = [describe(e) for e in FrameDecoder().feed(stream)]
        for line in lines:
            if line[0] == "F":
                assert line in sent, f"accepted a frame that was never sent: {line}"
                accepted += 1
            else:
                rejected += 1
        py_lines.append(lines)
    assert rejected > STREAMS_PER_SHARD  # the corruption did hit
    payload = b"".join(len(s).to_bytes(4, "little") + s for s in streams)
    proc = subprocess.run([runner, "decode"], input=payload, capture_output=True, check=True)
    c_lines = proc.stdout.decode().split(".\n")
    assert c_lines.pop() == ""
    for stream, py, c in zip(streams, py_lines, c_lines, strict=True):
        assert c.splitlines() == py, stream.hex()
    print(f"shard {shard}: {len(streams)} corrupted streams, {accepted} intact frames accepted, "
          f"{rejected} rejections, 0 wrong frames (Python and C agree)")


frames_st = st.builds(
    lambda kind, seq, ts, a, b, c: (kind, seq, ts, a, b, c),
    st.sampled_from(list(MessageType)),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 255),
    st.floats(0, 1),
    st.integers(0, 3),
)


def _encode(spec) -> bytes:
    kind, seq, ts, a, conf, flags = spec
    body = {
        MessageType.HELLO: lambda: hello_body(NAMES[: a % 4 + 1], conf * 600, a * 100),
        MessageType.DECISION: lambda: decision_body(a, conf, flags),
        MessageType.FAULT: lambda: bytes((a,)),
    }.get(kind, lambda: b"")()
    return encode_frame(kind, seq, ts, body)


@settings(max_examples=300, deadline=None)
@given(st.lists(frames_st, min_size=1, max_size=6), st.data())
def test_round_trip_any_frames_any_chunking(specs, data):
    wire = b"".join(_encode(s) for s in specs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    dec = FrameDecoder()
    events = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        events += dec.feed(wire[a:b])
    assert len(events) == len(specs)
    for event, (kind, seq, ts, *_rest) in zip(events, specs, strict=True):
        assert not isinstance(event, Rejection)
        assert (event.msg_type, event.seq, event.timestamp_ms) == (kind, seq, ts)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_raises_and_is_accounted(garbage):
    dec = FrameDecoder()
    events = dec.feed(garbage) + dec.feed(b"\x00" + FrameEncoder().stop())
    assert sum(dec.n_rejected.values()) + dec.n_frames == len(events)
    assert describe(events[-1]).startswith("F 2 5 ")


@settings(max_examples=200, deadline=None)
@given(st.lists(frames_st, min_size=1, max_size=4), st.data())
def test_edited_valid_streams_accept_only_sent_frames(specs, data):
    frames = [_encode(s) for s in specs]
    wire = bytearray(b"".join(frames))
    pos = data.draw(st.integers(0, len(wire) - 1))
    edit = data.draw(st.sampled_from(["flip", "cut", "dup"]))
    if edit == "flip":
        wire[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif edit == "cut":
        del wire[pos : pos + data.draw(st.integers(1, 20))]
    else:
        wire[pos:pos] = wire[pos : pos + data.draw(st.integers(1, 20))]
    sent = {describe(FrameDecoder().feed(f)[0]) for f in frames}
    for event in FrameDecoder().feed(bytes(wire)):
        assert isinstance(event, Rejection) or describe(event) in sent


def test_sequence_counter_wraps():
    counter = SequenceCounter(0xFFFFFFFE)
    assert [counter.next() for _ in range(3)] == [0xFFFFFFFE, 0xFFFFFFFF, 0]
    assert MAX_BODY == 64


def _receiver_fuzz():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_bridge_fuzz.py"
    spec = importlib.util.spec_from_file_location("bench_bridge_fuzz", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_receiver_fuzz_shard_python_and_c_agree_no_wrong_accept(runner):
    """Issue 10: duplicates, replays, reorders, drops, bit flips, foreign sessions (20 000
    frames; the 10^6-frame run is the slow test below and benchmarks/bench_bridge_fuzz.py)."""
    stats = _receiver_fuzz().fuzz(20_000, 10, runner)
    print(f"receiver fuzz shard: {stats}")
    assert stats["wrong"] == 0 and stats["used"] > 1000
    assert min(stats[k] for k in ("stale", "old", "foreign", "rejected")) > 0


@pytest.mark.slow
def test_receiver_fuzz_million_frames(runner):
    bench = _receiver_fuzz()
    total_wrong = 0
    for shard in range(10):
        stats = bench.fuzz(100_000, 100 + shard, runner)
        total_wrong += stats["wrong"]
    assert total_wrong == 0
