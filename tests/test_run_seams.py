"""The seams of the runtime: the run-state machine and what sinks hear of it, the encoders
against firmware_bridge's own encoding, and an observer on a short real-EEG replay."""

from __future__ import annotations

import pytest
from conftest import S007_R12

from edge.bundle import open_bundle
from edge.decision import DecisionConfig
from edge.decoders import load_decoder
from edge.encoders import AsciiLines, BinaryFrames
from edge.loop import LoopConfig, Runtime
from edge.observers import RunObserver
from edge.profiling import PtyDrain
from edge.recording import load_continuous
from edge.replay import RecordingSource
from edge.run_state import RunState, RunStateError, RunStateMachine, Session
from edge.serial_sink import SerialSink
from edge.sinks import NullSink
from firmware_bridge import AsciiEncoder, DecisionFlags, FaultReason, FrameEncoder
from firmware_bridge.frames import SequenceCounter

S, L, D, F, X = (RunState.STARTING, RunState.LINKED, RunState.DECISION, RunState.FAULT,
                 RunState.STOPPED)


class _Heard(NullSink):
    def __init__(self):
        self.changes = []

    def on_transition(self, change):
        self.changes.append((change.old, change.new, change.fault.reason if change.fault
                             else None))


def test_run_state_transitions_reach_every_listener_once():
    a, b = _Heard(), _Heard()
    run = RunStateMachine([a])
    run.subscribe(b)
    run.link()
    run.hop(False, 0.1)  # LINKED -> LINKED: no news
    run.hop(True, 0.2)
    run.hop(True, 0.3)  # still DECISION: no news
    run.enter_fault(FaultReason.BAD_SIGNAL, "railed: C3", 0.4)
    assert run.enter_fault(FaultReason.BAD_SIGNAL, "railed: C3", 0.5) is None  # not news
    run.enter_fault(FaultReason.BOARD_LOST, "stalled", 0.6)  # a new fault is reported
    assert run.fault.text == "stalled"
    run.recover(0.7)
    assert run.fault is None
    run.stop(0.8)
    assert run.stop(0.9) is None
    assert a.changes == b.changes == [
        (S, L, None), (L, D, None), (D, F, FaultReason.BAD_SIGNAL),
        (F, F, FaultReason.BOARD_LOST), (F, L, None), (L, X, None)]


def test_run_state_refuses_impossible_transitions_and_stop_keeps_the_fault_readable():
    run = RunStateMachine()
    with pytest.raises(RunStateError):
        run.recover(0.0)
    with pytest.raises(RunStateError):
        run.hop(True, 0.0)  # not linked yet

    seen = []

    class Reads(NullSink):
        def on_transition(self, change):
            seen.append((change.new, run.fault.text if run.fault else None))

    class Breaks(NullSink):
        def on_transition(self, change):
            if change.new is X:
                raise OSError("gone")

    run = RunStateMachine([Breaks(), Reads()])
    run.link()
    run.enter_fault(FaultReason.BOARD_LOST, "lost", 1.0)
    run.stop(2.0)  # the failing listener does not keep the other from stopping
    assert seen[-1] == (X, "lost") and run.fault is None and run.state is X
    with pytest.raises(RunStateError):
        run.link()


def _fixed_clock():
    return 1234


SEQUENCE = [("session_start",), ("decision", 1, 0.87, 0), ("decision", 0, 0.4,
            int(DecisionFlags.HOLD)), ("heartbeat",), ("fault", FaultReason.BAD_SIGNAL),
            ("hello",), ("decision", 0, 1.0, 0), ("stop",)]


def test_binary_encoder_gives_firmware_bridge_frames_byte_for_byte():
    session = Session(("left_hand", "right_hand"), 8.0)
    # a fixed session id: HELLO draws a random one (protocol v2)
    enc = BinaryFrames(session, 250, FrameEncoder(SequenceCounter(), _fixed_clock,
                                                  session_source=lambda: 7))
    ref = FrameEncoder(SequenceCounter(), _fixed_clock, session_source=lambda: 7)
    expected = {
        "session_start": lambda: b"\x00" + ref.hello(["left_hand", "right_hand"], 8.0, 250),
        "hello": lambda: ref.hello(["left_hand", "right_hand"], 8.0, 250),
        "decision": ref.decision, "heartbeat": ref.heartbeat, "fault": ref.fault,
        "stop": ref.stop}
    for name, *args in SEQUENCE:
        assert getattr(enc, name)(*args) == expected[name](*args), name


def test_ascii_encoder_gives_firmware_bridge_lines_byte_for_byte():
    enc = AsciiLines(Session(("left_hand", "right_hand"), 8.0), 250)
    ref = AsciiEncoder(["left_hand", "right_hand"])
    # text only: no NUL before the first line (issue 10)
    expected = {"session_start": ref.hello, "hello": ref.hello,
                "decision": ref.decision, "heartbeat": ref.heartbeat, "fault": ref.fault,
                "stop": ref.stop}
    for name, *args in SEQUENCE:
        assert getattr(enc, name)(*args) == expected[name](*args), name


class _Recorder(RunObserver):
    def __init__(self):
        self.reads, self.hops, self.writes, self.markers = 0, [], 0, []

    def on_read(self, chunk, first_sample, t_begin, t_end):
        assert t_end >= t_begin
        self.reads += 1
        for i in chunk.markers.nonzero()[0]:
            self.markers.append((first_sample + int(i), int(chunk.markers[i])))

    def on_hop(self, ring, out, t_decode, decode_s, t_decided):
        self.hops.append((out.state.value, t_decided >= t_decode + decode_s))

    def on_write(self, t_begin, t_end):
        assert t_end >= t_begin
        self.writes += 1


def test_observer_hears_reads_hops_writes_and_cue_markers_on_real_eeg(s007_fast_bundle):
    path, _, _ = s007_fast_bundle
    bundle = open_bundle(path)
    rec = load_continuous(S007_R12)
    rec.raw = rec.raw[:, : int(12 * rec.sfreq)]  # 12 s: three cues
    rec.events = rec.events[rec.events[:, 0] < rec.raw.shape[1]]
    source = RecordingSource(rec, bundle.channels, bundle.sfreq, 20)
    pty = PtyDrain().start()
    serial = SerialSink(pty.port)
    seen = _Recorder()
    serial.subscribe(seen)
    config = LoopConfig(realtime=False, poll_s=0.0,
                        decision=DecisionConfig(threshold=0.6, dwell=1, refractory_s=0.0))
    try:
        stats = Runtime(load_decoder(bundle, "fgsft"), bundle.channels, bundle.sfreq, source,
                        [serial], config, observers=[seen]).run()
    finally:
        pty.stop()
    assert seen.reads == -(-source.data.shape[1] // 20) and len(seen.hops) == stats.hops > 0
    assert all(ok for _, ok in seen.hops)
    assert sum(1 for s, _ in seen.hops if s == "DECISION") == stats.decisions
    # HELLO, one frame per hop (STOP goes out unobserved, on the way down)
    assert seen.writes >= stats.hops + 1
    # every cue of the recording, at its sample, with its code (+1: 0 means no marker)
    assert seen.markers == [(int(o), int(c) + 1) for o, c in rec.events]
