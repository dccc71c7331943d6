"""Lab Streaming Layer in and out (issue 17).

The round trip: a real recording (S007 run 12, the 8 Cyton channels at 250 Hz) is published as
an LSL EEG stream, ``mi-edge run --board lsl:...`` decodes it and publishes its decisions and
posteriors over LSL (read back here by inlets); the same samples, written as a BrainFlow
playback file, are decoded by ``mi-edge run --board playback`` at the same time. Same windows,
same decisions.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest
from conftest import CYTON_CHANNELS, REPO, S007_R12

from edge.argtypes import out_spec
from edge.lsl import LslUnavailable

SFREQ = 250.0


def _pylsl():
    try:
        return pytest.importorskip("pylsl")
    except RuntimeError as exc:  # pylsl without liblsl
        pytest.skip(f"liblsl not available: {exc}")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_out_spec_accepts_lsl():
    assert out_spec("lsl") == "lsl"
    assert out_spec("lsl:bci") == "lsl:bci"


def test_missing_liblsl_is_one_line(tmp_path, s007_cyton_bundle):
    """pylsl that cannot load liblsl (the aarch64 wheel): one line, exit code 4."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "pylsl.py").write_text(
        'raise RuntimeError("LSL binary library file was not found. Please make sure that '
        'the binary file can be found in the package lib folder")\n')
    env = {"PYTHONPATH": f"{fake}:{REPO}", "PATH": "/usr/bin:/bin"}
    for args in (["--board", "lsl:EEG", "--out", "stdout"],
                 ["--board", "synthetic", "--montage", ",".join(CYTON_CHANNELS), "--out", "lsl"]):
        r = subprocess.run([sys.executable, "-m", "edge.cli", "run", str(s007_cyton_bundle),
                            *args], capture_output=True, text=True, cwd=REPO, env=env,
                           timeout=60)
        assert r.returncode == LslUnavailable.exit_code, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "liblsl" in lines[0] and "deploy/README.md" in lines[0], \
            r.stderr


def _recording(seconds: float) -> np.ndarray:
    from edge.recording import load_continuous

    rec = load_continuous(S007_R12).resampled(SFREQ)
    return rec.pick(CYTON_CHANNELS)[:, : int(seconds * SFREQ)]


def test_lsl_source_maps_channels_detects_gaps_and_stalls():
    _pylsl()
    from lsl_player import LslPlayer

    from edge.lsl_source import LslSource
    from edge.source import SourceStalled

    raw = _recording(6.0)
    order = CYTON_CHANNELS[::-1] + ["EXTRA"]  # another order, and a channel the bundle lacks
    sent = np.vstack([raw[::-1], np.zeros((1, raw.shape[1]))])
    name = _name("src")
    player = LslPlayer(name, sent, order, SFREQ, speed=4.0, pause=(500, 0.6))
    source = LslSource(name, [c.lower() for c in CYTON_CHANNELS], SFREQ, stall_timeout_s=0.3)
    player.start()
    source.start()
    got, lost, stalled = [], 0, False
    deadline = time.monotonic() + 20
    while sum(c.shape[1] for c in got) < raw.shape[1] and time.monotonic() < deadline:
        try:
            chunk = source.read()
        except SourceStalled:
            stalled = True
            while not source.poll_reconnect():
                time.sleep(0.01)
            continue
        got.append(chunk.data)
        lost += chunk.lost_samples
        time.sleep(0.01)
    source.stop()
    player.close()
    data = np.hstack(got)
    np.testing.assert_allclose(data, raw.astype(np.float32), rtol=1e-6, atol=1e-4)
    assert stalled
    assert abs(lost - 0.6 * SFREQ) <= 3, lost  # the pause, in samples at the nominal rate


def test_lsl_source_refuses_wrong_rate_and_missing_channel():
    pylsl = _pylsl()
    from edge.lsl_source import LslSource, LslStreamError
    from edge.montage import MontageError
    from edge.source import SourceLost

    name = _name("rate")
    info = pylsl.StreamInfo(name, "EEG", 2, 500.0, pylsl.cf_float32, name)
    chans = info.desc().append_child("channels")
    for label in ("C3", "C4"):
        chans.append_child("channel").append_child_value("label", label)
    outlet = pylsl.StreamOutlet(info)  # noqa: F841 - visible while the source looks
    with pytest.raises(LslStreamError, match="500 Hz but the bundle was trained at 250 Hz"):
        LslSource(name, ["C3", "C4"], 250.0).start()
    with pytest.raises(MontageError, match="Cz"):
        LslSource(name, ["C3", "Cz"], 500.0).start()
    with pytest.raises(SourceLost, match="not found"):
        LslSource(_name("absent"), ["C3"], 250.0, resolve_timeout_s=0.3).start()


def _records(path):
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


class _Reader(threading.Thread):
    """Pull an LSL stream into a list until told to stop."""

    def __init__(self, pylsl, name: str):
        super().__init__(daemon=True)
        found = pylsl.resolve_byprop("name", name, 1, 30.0)
        assert found, f"no LSL stream {name}"
        self.inlet = pylsl.StreamInlet(found[0])
        self.info = self.inlet.info(timeout=10.0)
        self.inlet.open_stream(timeout=10.0)
        self.samples: list = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            samples, _ = self.inlet.pull_chunk(timeout=0.1)
            self.samples.extend(samples)


def _run_cmd(bundle, board_args, outs):
    cmd = [sys.executable, "-m", "edge.cli", "run", str(bundle), *board_args,
           # each window decides on its own (no smoothing, dwell or refractory chains): the
           # two runs' decisions can be compared window by window
           "--smoothing", "1", "--dwell", "1", "--refractory", "0", "--threshold", "0.7"]
    for out in outs:
        cmd += ["--out", out]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)


def test_lsl_round_trip_matches_brainflow_playback(s007_cyton_bundle, tmp_path):
    pylsl = _pylsl()
    from brainflow.board_shim import BoardShim
    from lsl_player import LslPlayer

    from export.playback import write_playback

    seconds, speed = 14.0, 2.0
    playback = tmp_path / "r12.csv"
    write_playback(S007_R12, playback, "cyton", CYTON_CHANNELS, start_s=0.0,
                   duration_s=seconds, speed=speed)
    eeg = np.loadtxt(playback, delimiter="\t")[:, BoardShim.get_eeg_channels(0)].T  # the
    # very samples BrainFlow plays, so both runs decode the same numbers
    eeg_name, out_name = _name("eeg"), _name("mi")
    player = LslPlayer(eeg_name, eeg, CYTON_CHANNELS, SFREQ, speed=speed)
    lsl_run = _run_cmd(s007_cyton_bundle, ["--board", f"lsl:{eeg_name}"],
                       [f"lsl:{out_name}", f"jsonl:{tmp_path / 'lsl.jsonl'}"])
    procs = [lsl_run]
    try:
        decisions = _Reader(pylsl, f"{out_name}-decisions")
        posteriors = _Reader(pylsl, f"{out_name}-posteriors")
        decisions.start()
        posteriors.start()
        procs.append(_run_cmd(s007_cyton_bundle,
                              ["--board", "playback", "--file", str(playback)],
                              [f"jsonl:{tmp_path / 'bf.jsonl'}"]))
        player.start()
        _, err = procs[1].communicate(timeout=120)  # the playback run ends with its file
        assert procs[1].returncode == 0, err
        player.thread.join(timeout=60)
        time.sleep(1.5)  # the LSL run notices the stream has stopped: a stall fault
        lsl_run.send_signal(signal.SIGTERM)
        _, err = lsl_run.communicate(timeout=30)
        assert lsl_run.returncode == 0, err
        time.sleep(0.5)
        decisions.done.set()
        posteriors.done.set()
    finally:
        player.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
    _compare(_records(tmp_path / "bf.jsonl"), _records(tmp_path / "lsl.jsonl"))
    _check_lsl_streams(_records(tmp_path / "lsl.jsonl"), decisions, posteriors)


def _hops(records):
    return [r for r in records if r["type"] in ("decision", "no_decision")]


def _compare(bf, lsl):
    """Same windows within one hop, same decisions within one hop.

    A hop decodes the newest window when a hop's worth of samples has arrived, so where the
    two sources cut their chunks differently a window may end a few samples apart; where they
    end on the same sample the posteriors are the same numbers."""
    hop = 0.125
    bf_hops, lsl_hops = _hops(bf), _hops(lsl)
    assert len(bf_hops) > 60 and abs(len(bf_hops) - len(lsl_hops)) <= 2, \
        (len(bf_hops), len(lsl_hops))
    lsl_t = np.array([h["t"] for h in lsl_hops])
    nearest = [lsl_hops[int(np.abs(lsl_t - h["t"]).argmin())] for h in bf_hops]
    assert max(abs(h["t"] - n["t"]) for h, n in zip(bf_hops, nearest, strict=True)) <= hop
    # where two windows end on the same sample they hold the same data: the same posteriors
    # (how many do depends on how each source's reads fall: the loop wakes when a hop is due)
    same = [(h, n) for h, n in zip(bf_hops, nearest, strict=True) if h["t"] == n["t"]]
    diff = max((np.abs(np.subtract(h["raw_proba"], n["raw_proba"])).max() for h, n in same),
               default=0.0)
    assert diff <= 2e-4, diff  # float32 on the LSL wire, rounded to 1e-4 in the JSONL
    bf_dec = [(h["class"], h["t"]) for h in bf_hops if h["type"] == "decision"]
    lsl_dec = [(h["class"], h["t"]) for h in lsl_hops if h["type"] == "decision"]
    assert len(bf_dec) >= 10, bf_dec

    def matched(a, b):
        return [d for d in a if any(c == d[0] and abs(u - d[1]) <= hop + 1e-6 for c, u in b)]

    # a window ending a few samples apart can fall on the other side of the threshold
    assert len(matched(bf_dec, lsl_dec)) >= 0.9 * len(bf_dec), (bf_dec, lsl_dec)
    assert len(matched(lsl_dec, bf_dec)) >= 0.9 * len(lsl_dec), (bf_dec, lsl_dec)
    print(f"LSL vs BrainFlow playback: {len(bf_hops)} / {len(lsl_hops)} hops, {len(same)} on "
          f"the same sample (max |dp| {diff:.1e}); decisions {len(bf_dec)} / {len(lsl_dec)}, "
          f"matched within one hop {len(matched(bf_dec, lsl_dec))} / "
          f"{len(matched(lsl_dec, bf_dec))}")


def _check_lsl_streams(lsl, decisions, posteriors):
    """What the inlets received is what the JSONL sink recorded."""
    desc = posteriors.info.desc()
    assert desc.child_value("hop_s") == "0.125"
    assert len(desc.child_value("bundle_sha256")) == 64
    klass = desc.child("classes").child("class")
    assert klass.child_value() == "left_hand"
    assert posteriors.info.nominal_srate() == 8.0
    markers = decisions.samples
    decided = [m for m in markers if m[2] == "decision"]
    expected = [(h["class"], h["confidence"]) for h in lsl if h["type"] == "decision"]
    assert [(m[0], round(float(m[1]), 4)) for m in decided] == expected
    assert any(m[2] == "fault" and "no new sample" in m[3] for m in markers), markers
    assert markers[-1][2] == "stopped"
    hops = _hops(lsl)
    assert abs(len(posteriors.samples) - len(hops)) <= 2, (len(posteriors.samples), len(hops))
    tail = np.array(posteriors.samples[-10:])
    np.testing.assert_allclose(tail, [h["proba"] for h in hops[-10:]], atol=1e-4)
