"""The runtime loop on real EEG: replay vs evaluate, serial output, and what the device sees on
faults (stall, NaN, railed, vanished port, bad bundle, missing channel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import REPO, S007, S007_R12

from edge.bundle import open_bundle
from edge.decision import DecisionConfig, DecisionLayer, DecisionState
from edge.decoders import load_decoder
from edge.loop import LoopConfig, Runtime
from edge.recording import load_continuous
from edge.replay import RecordingSource, replay
from edge.ringbuffer import RingBuffer
from edge.run_state import RunState
from edge.serial_sink import SerialSink
from edge.sinks import NullSink
from edge.source import SourceStalled
from firmware_bridge import FrameDecoder, MessageType
from firmware_bridge.decoder import Rejection

# -- mechanics (synthetic inputs) -------------------------------------------------------------


def test_ring_buffer_wraps_and_returns_the_newest_samples():
    ring = RingBuffer(2, 10)
    out = np.zeros((2, 6))
    for start in range(0, 37, 7):
        x = np.arange(start, start + 7, dtype=float)
        ring.push(np.stack([x, -x]), x)
    ring.latest(6, out)
    assert out[0].tolist() == [36, 37, 38, 39, 40, 41] and out[1].tolist() == [-36, -37, -38,
                                                                                -39, -40, -41]
    ring.push(np.zeros((2, 25)), np.arange(25.0))  # longer than capacity
    assert ring.total == 42 + 25 and ring.newest_timestamp() == 24.0


def test_decision_layer_threshold_dwell_refractory_and_fault():
    layer = DecisionLayer(2, DecisionConfig(smoothing=1.0, threshold=0.7, dwell=3,
                                            refractory_s=1.0))
    left, right, unsure = np.array([0.9, 0.1]), np.array([0.1, 0.9]), np.array([0.55, 0.45])
    states = [layer.update(p, t * 0.125).state for t, p in enumerate([left, left, unsure, left,
                                                                       left, left])]
    # the unsure window breaks the dwell; three agreeing confident windows make a decision
    assert states == [DecisionState.NO_DECISION] * 5 + [DecisionState.DECISION]
    out = [layer.update(left, 0.75 + k * 0.125) for k in range(1, 9)]
    # refractory for 1 s after the decision at t = 0.625, then a fresh dwell of 3
    assert [o.state for o in out].count(DecisionState.DECISION) == 1
    assert out[-1].state is DecisionState.DECISION or out[-2].state is DecisionState.DECISION
    layer.reset()  # a fault: the evidence restarts
    assert layer.update(right, 5.0).state is DecisionState.NO_DECISION  # dwell starts over
    assert layer.update(right, 5.125).state is DecisionState.NO_DECISION
    assert layer.update(right, 5.25).state is DecisionState.DECISION
    with pytest.raises(ValueError, match="threshold"):
        DecisionConfig(threshold=1.5)


# -- real EEG through the loop ----------------------------------------------------------------


class _Collect(NullSink):
    def __init__(self):
        self.events: list[tuple[str, float, object]] = []

    def start(self, session, run):
        self.events.append(("hello", 0.0, list(session.classes)))

    def emit(self, out, info):
        self.events.append((out.state.value, float(info["t"]), out.class_index))

    def on_transition(self, change):
        if change.new is RunState.FAULT:
            self.events.append(("FAULT", change.t, change.fault.reason.name))
        elif change.old is RunState.FAULT and change.new is RunState.LINKED:
            self.events.append(("recovered", -1.0, None))
        elif change.new is RunState.STOPPED:
            self.events.append(("stop", -1.0, None))


def _runtime(bundle_path, source, sinks, **cfg):
    bundle = open_bundle(bundle_path)
    dec = load_decoder(bundle, "fgsft")
    config = LoopConfig(realtime=False, poll_s=0.0,
                        decision=DecisionConfig(threshold=0.6, dwell=1, refractory_s=0.0), **cfg)
    return Runtime(dec, bundle.channels, bundle.sfreq, source, sinks, config), bundle, dec


def _source(bundle_path, raw=None):
    bundle = open_bundle(bundle_path)
    rec = load_continuous(S007_R12)
    if raw is not None:
        rec.raw = raw
    return RecordingSource(rec, bundle.channels, bundle.sfreq, 20)


def test_replay_agrees_with_evaluate_on_the_same_trials(s007_fast_bundle):
    from export.evaluate import evaluate_bundle

    path, _, _ = s007_fast_bundle
    offline = evaluate_bundle(path, [S007], runs=[12])["fgsft"]
    online = replay(path, [S007_R12])["fgsft"]
    assert online["n_cues"] == offline["n_trials"] == 15
    assert online["aligned_windows"] == 15
    # the aligned hop window is at most half a hop (62.5 ms) off the evaluated window
    assert abs(online["aligned_window_accuracy"] - offline["accuracy"]) <= 1 / 15 + 1e-9
    assert online["decision_accuracy"] >= 0.8  # cue-locked decisions on S007 run 12


def test_stall_faults_and_no_decision_until_a_full_window_of_new_data(s007_fast_bundle):
    path, _, _ = s007_fast_bundle

    class Stalling(RecordingSource):
        def read(self):
            if self.pos == 4000 and not getattr(self, "stalled", False):
                self.stalled = True
                raise SourceStalled("no new sample for 1.0 s")
            return super().read()

    sink = _Collect()
    rt, bundle, dec = _runtime(path, Stalling(load_continuous(S007_R12), open_bundle(path).channels,
                                              open_bundle(path).sfreq, 20), [sink])
    rt.run()
    ev = sink.events
    fault_i = next(i for i, e in enumerate(ev) if e[0] == "FAULT")
    assert ev[fault_i][2] == "BOARD_LOST"
    after = ev[fault_i + 1:]
    first_out = next(e for e in after if e[0] in ("DECISION", "NO_DECISION"))
    # no output at all until a whole window of post-stall samples has arrived
    assert first_out[1] >= 4000 / 160 + dec.n_samples / 160 - 1e-9
    assert ("recovered", -1.0, None) in after
    assert ev[-1][0] == "stop"


@pytest.mark.parametrize("kind", ["nan", "railed"])
def test_bad_samples_give_fault_and_no_decision_from_those_windows(s007_fast_bundle, kind):
    path, _, _ = s007_fast_bundle
    bundle = open_bundle(path)
    rec = load_continuous(S007_R12)
    raw = rec.raw.copy()
    c3 = rec.ch_names.index("C3")
    bad = slice(6000, 6040)
    raw[c3, bad] = np.nan if kind == "nan" else 200_000.0
    sink = _Collect()
    rt, _, dec = _runtime(path, _source(path, raw), [sink])
    rt.run()
    faults = [e for e in sink.events if e[0] == "FAULT"]
    assert faults and faults[0][2] == "BAD_SIGNAL"
    win = dec.n_samples / bundle.sfreq
    for state, t, _ in sink.events:
        if state in ("DECISION", "NO_DECISION"):
            # a window ending at t covers (t - win, t]: none may contain a bad sample
            assert not (t - win < bad.stop / 160 and t > bad.start / 160), (state, t)
    assert any(e[0] == "DECISION" and e[1] > bad.stop / 160 + win for e in sink.events)


def _read_frames(fd, deadline):
    dec = FrameDecoder()
    frames = []
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except (BlockingIOError, OSError):
            time.sleep(0.01)
            continue
        if not chunk:
            break
        frames.extend(dec.feed(chunk))
    return frames


def test_serial_output_hello_decisions_continuous_sequence_and_stop(s007_fast_bundle):
    path, _, _ = s007_fast_bundle
    master, slave = os.openpty()
    os.set_blocking(master, False)
    sink = SerialSink(os.ttyname(slave), heartbeat_ms=250)
    rt, _, _ = _runtime(path, _source(path), [sink])
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(_read_frames(master,
                                                                     time.monotonic() + 60)))
    reader.start()
    stats = rt.run(duration_s=20.0)
    time.sleep(0.5)
    os.close(slave)
    reader.join()
    frames = [f for f in got if not isinstance(f, Rejection)]
    assert not [f for f in got if isinstance(f, Rejection)]
    assert frames[0].msg_type is MessageType.HELLO
    assert frames[0].message.class_names == ("left_hand", "right_hand")
    seqs = [f.seq for f in frames]
    assert all((b - a) % 65536 == 1 for a, b in zip(seqs[:-3], seqs[1:-2], strict=True))
    decisions = [f for f in frames if f.msg_type is MessageType.DECISION]
    assert len(decisions) == stats.hops
    assert sum(1 for f in decisions if f.message.flags == 0) == stats.decisions > 0
    assert [f.msg_type for f in frames[-3:]] == [MessageType.STOP] * 3


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")
def test_vanished_serial_port_returns_without_stale_decisions(s007_fast_bundle, tmp_path):
    """The port disappears mid-run (socat killed) and comes back at the same path: the runtime
    restarts the session with HELLO and sends only decisions made after the return."""
    path, _, _ = s007_fast_bundle
    host_end, device_end = tmp_path / "host", tmp_path / "device"

    def start_link():
        p = subprocess.Popen(["socat", f"PTY,raw,echo=0,link={host_end}",
                              f"PTY,raw,echo=0,link={device_end}"])
        for _ in range(200):
            if host_end.exists() and device_end.exists():
                return p
            time.sleep(0.02)
        raise RuntimeError("socat did not create the links")

    class Paced(RecordingSource):  # a live-like source: 20 samples every 25 ms
        def read(self):
            time.sleep(0.025)
            return super().read()

    link = start_link()
    bundle = open_bundle(path)
    sink = SerialSink(str(host_end), heartbeat_ms=100, backoff_s=(0.1, 0.4))
    dec = load_decoder(bundle, "fgsft")
    rt = Runtime(dec, bundle.channels, bundle.sfreq,
                 Paced(load_continuous(S007_R12), bundle.channels, bundle.sfreq, 20), [sink],
                 LoopConfig(realtime=True, poll_s=0.0,
                            decision=DecisionConfig(threshold=0.5, dwell=1, refractory_s=0.0)))
    runner = threading.Thread(target=rt.run, kwargs={"duration_s": 9.0})
    runner.start()
    fd = os.open(device_end, os.O_RDONLY | os.O_NONBLOCK)
    before = _read_frames(fd, time.monotonic() + 3.0)
    os.close(fd)
    link.terminate()
    link.wait()
    gone_ms = time.monotonic() * 1000.0
    time.sleep(1.0)
    link = start_link()
    back_ms = time.monotonic() * 1000.0
    fd = os.open(device_end, os.O_RDONLY | os.O_NONBLOCK)
    after = _read_frames(fd, time.monotonic() + 4.0)
    runner.join(timeout=30)
    os.close(fd)
    link.terminate()
    link.wait()
    assert any(f.msg_type is MessageType.DECISION for f in before)
    frames = [f for f in after if not isinstance(f, Rejection)]
    assert frames, "nothing arrived after the port returned"
    assert frames[0].msg_type is MessageType.HELLO  # the session restarts before anything else
    stamps = [f.timestamp_ms for f in frames if f.msg_type is MessageType.DECISION]
    assert stamps, "no decision after the port returned"
    # host timestamps are time.monotonic() in ms (uint32): every decision is fresh
    assert min(stamps) >= (int(back_ms) - 300) % 2**32 > int(gone_ms) % 2**32
    assert sink.reconnects >= 1 and sink.dropped >= 1


def _edge_run(*args):
    return subprocess.run([sys.executable, "-m", "edge.cli", "run", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_run_refuses_a_corrupt_bundle(s007_fast_bundle, tmp_path):
    path, _, _ = s007_fast_bundle
    bad = tmp_path / "bad.mibundle"
    shutil.copytree(path, bad)
    member = bad / "fgsft.npz"
    member.write_bytes(member.read_bytes()[:-10])
    r = _edge_run(str(bad), "--board", "synthetic", "--out", "stdout", "--duration", "1")
    assert r.returncode == 3
    assert "fgsft.npz" in r.stderr and "truncated" in r.stderr


def test_run_refuses_a_montage_without_a_bundle_channel(s007_cyton_bundle):
    # the bundle needs CP4 and C1; this montage puts Fz and Pz on those inputs
    r = _edge_run(str(s007_cyton_bundle), "--board", "synthetic", "--montage",
                  "C3,Cz,C4,FC3,FC4,CP3,Fz,Pz", "--out", "stdout", "--duration", "1")
    assert r.returncode != 0
    assert "CP4" in r.stderr and "C1" in r.stderr


def test_run_refuses_a_board_at_another_rate(s007_fast_bundle):
    path, _, _ = s007_fast_bundle  # 160 Hz bundle, synthetic board at 250 Hz
    r = _edge_run(str(path), "--board", "synthetic", "--out", "stdout", "--duration", "1")
    assert r.returncode != 0
    assert "250 Hz" in r.stderr and "160 Hz" in r.stderr


def test_run_refuses_a_serial_port_that_does_not_exist(s007_cyton_bundle):
    r = _edge_run(str(s007_cyton_bundle), "--board", "synthetic", "--montage",
                  "C3,Cz,C4,FC3,FC4,CP3,CP4,C1", "--out", "serial:/dev/ttyMIEDGE_NONE",
                  "--duration", "1")
    assert r.returncode == 6
    assert "/dev/ttyMIEDGE_NONE" in r.stderr and "cannot open" in r.stderr
