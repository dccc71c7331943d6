"""BrainFlowSource on BrainFlow's own boards: playback of real EEG, synthetic, and faults.

BrainFlow plays files in real time, paced by their timestamp row; the files here are written
a few times faster than real time (``speed``) so the set stays quick. Every wait is a poll
loop with a generous deadline: the machine may be busy with other work.
"""

from __future__ import annotations

import argparse
import gc
import threading
import time

import numpy as np
import pytest
from brainflow.board_shim import BoardShim, BrainFlowError, BrainFlowExitCodes
from conftest import S007_R12

import edge.brainflow_source as bfs
from edge.boards import BoardConfig, BoardConfigError, resolve_board
from edge.brainflow_source import BrainFlowSource
from edge.cli_args import add_board_arguments, board_config
from edge.montage import MontageError
from edge.playback_file import PackageCounter, PlaybackIndex
from edge.source import Chunk, SourceEnded, SourceError, SourceLost, SourceStalled
from export.data import _resample, load_continuous
from export.playback import write_playback

FILE_CHANNELS = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "Fz"]
BUNDLE_CHANNELS = ["C4", "Fz", "C3", "CP3"]  # deliberately not in input order
SECONDS = 13.0  # holds four cues of S007 run 12 (t = 0, 4.2, 8.3, 12.5 s)
SPEED = 5.0
DEADLINE = 60.0


@pytest.fixture(scope="module")
def cyton_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("playback") / "S007_R12.cyton.csv"
    return write_playback(S007_R12, out, "cyton", FILE_CHANNELS, duration_s=SECONDS,
                          speed=SPEED)


def drain(src: BrainFlowSource, deadline: float = DEADLINE) -> tuple[list[Chunk], Exception]:
    """Read until the source raises; return the chunks and the exception."""
    chunks: list[Chunk] = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            chunks.append(src.read())
        except SourceError as exc:
            return chunks, exc
        time.sleep(0.01)
    raise AssertionError(f"no fault raised within {deadline} s")


def cat(chunks: list[Chunk]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.concatenate([c.data for c in chunks], axis=1),
            np.concatenate([c.markers for c in chunks]),
            np.concatenate([c.timestamps for c in chunks]))


# -- playback of real EEG ------------------------------------------------------------------


def test_playback_delivers_the_recording_in_bundle_order_then_ends(cyton_file):
    cfg = BoardConfig(board="playback", file=str(cyton_file.path))  # master from the sidecar
    assert cfg.master_board_id == 0
    src = BrainFlowSource(cfg, BUNDLE_CHANNELS, 250.0)
    src.start()
    try:
        chunks, exc = drain(src)
    finally:
        src.stop()
    assert isinstance(exc, SourceEnded), exc
    assert "played to its end (3250 samples" in str(exc)
    data, markers, ts = cat(chunks)

    rec = load_continuous(S007_R12)
    idx = [rec.ch_names.index(c) for c in BUNDLE_CHANNELS]
    expected, _ = _resample(rec.raw[idx, : int(SECONDS * 160)], 160.0, 250.0)
    assert data.shape == expected.shape == (4, 3250)
    np.testing.assert_allclose(data, expected, rtol=1e-5, atol=1e-6)

    onsets = rec.events[rec.events[:, 0] < SECONDS * 160]
    want = {int(round(o * 250 / 160)): float(c + 1) for o, c in onsets}
    assert {int(i): markers[i] for i in np.flatnonzero(markers)} == want
    assert sum(c.lost_samples for c in chunks) == 0
    assert np.all(np.diff(ts) >= 0) and ts[0] > 1e9  # BrainFlow's new (wall-clock) timestamps
    assert src.total_samples == 3250


def test_dropped_packets_are_counted_and_markers_stay_aligned(cyton_file, tmp_path):
    lines = cyton_file.path.read_text().splitlines(keepends=True)[:1100]
    dropped = set(range(300, 303)) | set(range(700, 710))  # 3 then 10 samples lost
    path = tmp_path / "gappy.csv"
    path.write_text("".join(line for i, line in enumerate(lines) if i not in dropped))
    src = BrainFlowSource(BoardConfig(board="playback", file=str(path), master_board="cyton",
                                      montage=FILE_CHANNELS), ["C3"], 250.0)
    src.start()
    try:
        chunks, exc = drain(src)
    finally:
        src.stop()
    assert isinstance(exc, SourceEnded), exc
    assert sum(c.lost_samples for c in chunks) == 13 == src.total_lost
    _, markers, _ = cat(chunks)
    kept = [i for i in range(1100) if i not in dropped]
    assert [kept[i] for i in np.flatnonzero(markers)] == [0, 1050]


def test_file_for_cyton_played_as_daisy_is_refused(cyton_file):
    cfg = BoardConfig(board="playback", file=str(cyton_file.path), master_board="cyton-daisy",
                      montage="C3,Cz,C4")
    src = BrainFlowSource(cfg, ["C3"], 125.0)
    with pytest.raises(BoardConfigError) as ei:
        src.start()
    text = str(ei.value)
    assert "24 values per sample" in text and "cyton-daisy (2) has 32 rows" in text
    assert "deliver no sample" in text and "fit cyton (0)" in text
    assert not src.streaming


def test_file_for_cyton_played_as_daisy_stalls_instead_of_silence(cyton_file, monkeypatch):
    """Without the file check BrainFlow delivers nothing and says nothing: the watchdog fires."""
    index = PlaybackIndex(np.zeros(10, dtype=np.int64), np.zeros(10))
    monkeypatch.setattr(bfs, "read_playback_index", lambda *a: index)
    cfg = BoardConfig(board="playback", file=str(cyton_file.path), master_board="cyton-daisy",
                      montage="C3", startup_timeout_s=0.5, brainflow_log_level="off")
    src = BrainFlowSource(cfg, ["C3"], 125.0)
    src.start()
    try:
        chunks, exc = drain(src)
    finally:
        src.stop()
    assert isinstance(exc, SourceStalled), exc
    assert all(c.n_samples == 0 for c in chunks)
    assert "no sample" in str(exc) and "master_board (cyton-daisy (2))" in str(exc)


def test_loopback_plays_on_without_false_losses(cyton_file, tmp_path):
    lines = cyton_file.path.read_text().splitlines(keepends=True)[:300]  # 300 % 256 != 0
    path = tmp_path / "loop.csv"
    path.write_text("".join(lines))
    src = BrainFlowSource(BoardConfig(board="playback", file=str(path), master_board="cyton",
                                      montage=FILE_CHANNELS, loopback=True), ["Cz"], 250.0)
    src.start()
    chunks: list[Chunk] = []
    try:
        end = time.monotonic() + DEADLINE
        while src.total_samples < 700 and time.monotonic() < end:
            chunks.append(src.read())
            time.sleep(0.01)
    finally:
        src.stop()
    assert src.total_samples >= 700
    assert src.total_lost == 0
    _, markers, _ = cat(chunks)
    assert np.flatnonzero(markers).tolist()[:3] == [0, 300, 600]  # the cue at t=0, every loop


# -- synthetic board -----------------------------------------------------------------------


def spy_on_board(src: BrainFlowSource) -> list[np.ndarray]:
    """Record the raw arrays BrainFlow returns to the source."""
    raw: list[np.ndarray] = []
    orig = src._board.get_board_data

    def spy(*args):
        out = orig(*args)
        raw.append(out)
        return out

    src._board.get_board_data = spy
    return raw


@pytest.mark.parametrize("montage, channels", [
    (None, ["C4", "Fz", "PO8", "C3"]),  # BrainFlow's 16 synthetic names
    ("C3,Cz,C4,FC3,FC4,CP3,CP4,Fz", ["Cz", "C3", "Fz"]),  # 8 inputs named, 8 unused
])
def test_synthetic_board_streams_the_named_inputs(montage, channels):
    src = BrainFlowSource(BoardConfig(board="synthetic", montage=montage), channels, 250.0)
    names = src.montage.to_list()
    eeg = BoardShim.get_eeg_channels(-1)
    src.start()
    try:
        raw = spy_on_board(src)
        chunks = []
        end = time.monotonic() + DEADLINE
        while sum(c.n_samples for c in chunks) < 250 and time.monotonic() < end:
            chunks.append(src.read())
            time.sleep(0.02)
    finally:
        src.stop()
    src.stop()  # twice is fine
    data, _, ts = cat(chunks)
    assert data.shape[0] == len(channels) and data.shape[1] >= 250
    rows = [eeg[names.index(c)] for c in channels]
    np.testing.assert_array_equal(data, np.concatenate(raw, axis=1)[rows])
    assert np.all(np.isfinite(data)) and np.all(np.diff(ts) > 0)
    assert sum(c.lost_samples for c in chunks) == 0


def test_sampling_rate_mismatch_is_refused_with_both_rates():
    with pytest.raises(BoardConfigError) as ei:
        BrainFlowSource(BoardConfig(board="synthetic"), ["C3"], 160.0)
    text = str(ei.value)
    assert "250 Hz" in text and "160 Hz" in text
    assert "does not resample" in text and "--sfreq 250" in text


def test_missing_montage_channel_names_them():
    with pytest.raises(MontageError) as ei:
        BrainFlowSource(BoardConfig(board="cyton", serial_port="/dev/ttyUSB0"),
                        ["C3", "Cz", "C4", "CP4"], 250.0)
    text = str(ei.value)
    assert "Cz, CP4" in text and "cyton (0) on /dev/ttyUSB0" in text and "--montage" in text


# -- configuration -------------------------------------------------------------------------


def test_board_names_and_ids():
    assert resolve_board("cyton") == 0 and resolve_board("cyton_daisy") == 2
    assert resolve_board("playback") == -3 and resolve_board("-1") == -1
    assert resolve_board("CYTON_WIFI_BOARD") == 5 and resolve_board(1) == 1
    with pytest.raises(BoardConfigError, match="unknown board 'openbci'.*cyton-daisy"):
        resolve_board("openbci")
    with pytest.raises(BoardConfigError, match="unknown BrainFlow board id 12345"):
        resolve_board(12345)


def test_config_is_validated_once(tmp_path):
    with pytest.raises(BoardConfigError, match="needs serial_port.*/dev/openbci"):
        BoardConfig(board="cyton")
    with pytest.raises(BoardConfigError, match="playback needs file"):
        BoardConfig(board="playback")
    bare = tmp_path / "bare.csv"
    bare.write_text("0\t1\n")
    with pytest.raises(BoardConfigError, match="give master_board"):
        BoardConfig(board="playback", file=str(bare))
    with pytest.raises(BoardConfigError, match="stall_timeout_s must be > 0"):
        BoardConfig(stall_timeout_s=0)
    cfg = BoardConfig(board="cyton-daisy", serial_port="/dev/openbci", montage="C3,-,C4")
    assert cfg.board_id == 2 and cfg.montage == ("C3", None, "C4")
    assert cfg.input_params().serial_port == "/dev/openbci"


def test_board_arguments_build_a_config():
    p = argparse.ArgumentParser()
    add_board_arguments(p)
    args = p.parse_args(["--board", "cyton", "--serial-port", "/dev/openbci", "--montage",
                         "C3,Cz,C4", "--stall-timeout", "2.5"])
    cfg = board_config(args)
    assert (cfg.board_id, cfg.serial_port, cfg.montage, cfg.stall_timeout_s) == (
        0, "/dev/openbci", ("C3", "Cz", "C4"), 2.5)


# -- package counter -----------------------------------------------------------------------


def test_counter_gap_and_wrap():
    pc = PackageCounter()
    seq = np.array([250, 251, 252, 253, 254, 255, 0, 1, 2, 5, 6], dtype=float)
    assert pc.update(seq).tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0]
    assert pc.update(np.array([7.0])).tolist() == [0]
    assert pc.update(np.array([254.0, 1.0])).tolist() == [246, 2]  # lost 8..253, then 255, 0
    assert pc.update(np.array([])).tolist() == []
    pc.reset()
    assert pc.update(np.array([100.0])).tolist() == [0]  # no predecessor after a restart


def test_counter_step_two_as_on_a_daisy():
    pc = PackageCounter(256, 2)
    assert pc.update(np.array([251.0, 253, 255, 1, 3, 9, 11])).tolist() == [0, 0, 0, 0, 0, 2, 0]
    assert pc.update(np.array([15.0])).tolist() == [1]


# -- faults with a scripted board (no hardware, controlled clock) --------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


class Script:
    """What the fake board does: start failures, then data blocks / errors per read."""

    def __init__(self) -> None:
        self.fail_starts = 0
        self.reads: list[object] = []
        self.starts = 0
        self.released = 0


def cyton_block(counters) -> np.ndarray:
    out = np.zeros((24, len(counters)))
    out[0] = counters
    out[1:9] = np.arange(1, 9)[:, None]
    out[22] = np.arange(len(counters))
    return out


@pytest.fixture
def fake_board(monkeypatch):
    script = Script()

    class FakeShim(BoardShim):
        def __init__(self, board_id, params):
            self.board_id = board_id

        def is_prepared(self):
            return False

        def prepare_session(self):
            script.starts += 1
            if script.fail_starts:
                script.fail_starts -= 1
                raise BrainFlowError("UNABLE_TO_OPEN_PORT_ERROR:2 unable to prepare streaming "
                                     "session", BrainFlowExitCodes.UNABLE_TO_OPEN_PORT_ERROR)

        def start_stream(self, *args):
            pass

        def get_board_data(self, *args):
            item = script.reads.pop(0) if script.reads else np.zeros((24, 0))
            if isinstance(item, Exception):
                raise item
            return item

        def stop_stream(self):
            pass

        def release_session(self):
            script.released += 1

    monkeypatch.setattr(bfs, "BoardShim", FakeShim)
    return script


def fake_source(clock: FakeClock, port: str = "/dev/null", **kw) -> BrainFlowSource:
    cfg = BoardConfig(board="cyton", serial_port=port, **kw)
    return BrainFlowSource(cfg, ["C4", "C3"], 250.0, clock=clock, sleep=clock.sleep)


def test_rows_and_loss_from_a_scripted_board(fake_board):
    clock = FakeClock()
    src = fake_source(clock)
    fake_board.reads = [cyton_block([254, 255, 0]), cyton_block([4, 5])]
    src.start()
    a, b = src.read(), src.read()
    assert a.data.tolist() == [[4, 4, 4], [3, 3, 3]]  # C4 is input 4, C3 input 3
    assert (a.lost_samples, b.lost_samples) == (0, 3)


def test_stall_watchdog(fake_board):
    clock = FakeClock()
    src = fake_source(clock, startup_timeout_s=3.0, stall_timeout_s=1.0)
    src.start()
    clock.t += 2.9
    assert src.read().n_samples == 0  # still within the startup timeout
    fake_board.reads = [cyton_block([0, 1])]
    assert src.read().n_samples == 2
    clock.t += 0.9
    assert src.read().n_samples == 0
    clock.t += 0.2
    with pytest.raises(SourceStalled, match=r"no new sample for 1\.1 s \(stall timeout 1 s\) "
                                            r"after 2 samples"):
        src.read()


def test_startup_timeout_and_vanished_port(fake_board, tmp_path):
    clock = FakeClock()
    src = fake_source(clock, startup_timeout_s=2.0)
    src.start()
    clock.t += 2.5
    with pytest.raises(SourceStalled, match="no sample 2.5 s after start.*dialout"):
        src.read()
    port = tmp_path / "ttyUSB0"
    port.write_text("")
    src = fake_source(clock, port=str(port))
    src.start()
    port.unlink()
    clock.t += 10
    with pytest.raises(SourceLost, match="ttyUSB0 has disappeared"):
        src.read()


def test_brainflow_error_while_streaming_is_source_lost(fake_board):
    clock = FakeClock()
    src = fake_source(clock)
    fake_board.reads = [BrainFlowError("BOARD_NOT_CREATED_ERROR:15", 15)]
    src.start()
    with pytest.raises(SourceLost, match="BrainFlow error while streaming"):
        src.read()


def test_reconnect_backoff_doubles_to_the_cap(fake_board):
    clock = FakeClock()
    src = fake_source(clock)
    fake_board.fail_starts = 6
    assert src.reconnect() == 7
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert src.streaming


def test_reconnect_backoff_carries_over_until_data_flows(fake_board):
    clock = FakeClock()
    src = fake_source(clock, reconnect_initial_s=0.25, reconnect_max_s=1.0)
    src.start()
    src.reconnect()
    src.reconnect()  # started, but no data came: the next wait is longer
    assert clock.sleeps == [0.25, 0.5]
    fake_board.reads = [cyton_block([0])]
    src.read()
    src.reconnect()
    assert clock.sleeps[-1] == 0.25


def test_reconnect_gives_up_or_is_cancelled(fake_board):
    clock = FakeClock()
    src = fake_source(clock, reconnect_attempts=3)
    fake_board.fail_starts = 10
    with pytest.raises(SourceLost, match="gave up after 3 reconnect attempts.*UNABLE_TO_OPEN"):
        src.reconnect()
    assert clock.sleeps == [0.5, 1.0, 2.0] and not src.streaming
    stop = threading.Event()
    stop.set()
    t0 = time.monotonic()
    with pytest.raises(SourceLost, match="cancelled"):
        src.reconnect(stop_event=stop)
    assert time.monotonic() - t0 < 5


def test_poll_reconnect_never_blocks_and_keeps_the_schedule(fake_board):
    clock = FakeClock()
    src = fake_source(clock, reconnect_attempts=4)
    src.start()
    fake_board.fail_starts = 2
    t0 = time.monotonic()
    assert src.poll_reconnect() is False and not src.streaming  # stopped, attempt due in 0.5 s
    tries = []
    for _ in range(40):  # the loop polls every 0.125 s (exact in binary)
        clock.t += 0.125
        before = fake_board.starts
        if src.poll_reconnect():
            tries.append(clock.t - 1000.0)
            break
        if fake_board.starts > before:
            tries.append(clock.t - 1000.0)
    assert tries == [0.5, 1.5, 3.5]  # attempts after 0.5, then 1 and 2 s more
    assert src.streaming and time.monotonic() - t0 < 5 and clock.sleeps == []
    fake_board.fail_starts = 10
    assert src.poll_reconnect() is False  # a new fault: backoff carried (no data came)
    with pytest.raises(SourceLost, match="gave up after 4"):
        for _ in range(2000):
            clock.t += 0.1
            src.poll_reconnect()


def test_reconnect_for_real_on_the_synthetic_board():
    cfg = BoardConfig(board="synthetic", reconnect_initial_s=0.01)
    src = BrainFlowSource(cfg, ["C3"], 250.0)
    src.start()
    try:
        old = src._board
        assert src.reconnect() == 1
        # BrainFlow's BoardShim.__del__ would release the new session (same board and params)
        del old
        gc.collect()
        end = time.monotonic() + DEADLINE
        n = 0
        while n == 0 and time.monotonic() < end:
            n = src.read().n_samples
            time.sleep(0.02)
        assert n > 0
    finally:
        src.stop()


def test_read_before_start():
    src = BrainFlowSource(BoardConfig(board="synthetic"), ["C3"], 250.0)
    with pytest.raises(SourceError, match="before start"):
        src.read()
