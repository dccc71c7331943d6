"""End to end: a real recording written as a Cyton playback file, played by BrainFlow's playback
board (master Cyton), decoded by ``mi-edge run`` and sent over a pseudo-terminal to the device
emulator (``mi-bridge emulate``), each in its own process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from conftest import CYTON_CHANNELS, REPO, S007_R12

from export.playback import write_playback


def _records(path):
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]


def test_playback_board_to_runtime_to_emulator(s007_cyton_bundle, tmp_path):
    playback = tmp_path / "s007_r12_cyton.csv"
    # 40 s of run 12 (a few cues), played at twice real time to keep the test short
    write_playback(S007_R12, playback, "cyton", CYTON_CHANNELS, start_s=0.0, duration_s=40.0,
                   speed=2.0)
    log = tmp_path / "device.jsonl"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge.cli", "emulate", "--json-log", str(log),
         "--heartbeat-timeout-ms", "1000", "--duration", "120", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    runtime = None
    try:
        port = emulator.stdout.readline().strip()
        assert port.startswith("/dev/"), port
        runtime = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", str(s007_cyton_bundle),
             "--board", "playback", "--file", str(playback), "--master-board", "cyton",
             "--out", f"serial:{port}", "--out", f"jsonl:{tmp_path / 'host.jsonl'}",
             "--dwell", "1", "--refractory", "0.5"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            frames = [r for r in _records(log) if r["event"] == "frame"]
            if sum(f["type"] == "DECISION" and not f["flags"] for f in frames) >= 3:
                break
            assert runtime.poll() is None, runtime.stderr.read()
            time.sleep(0.2)
        runtime.send_signal(signal.SIGTERM)
        _, err = runtime.communicate(timeout=30)
        assert runtime.returncode == 0, err
        time.sleep(0.5)
    finally:
        if runtime is not None and runtime.poll() is None:
            runtime.kill()
        emulator.send_signal(signal.SIGINT)
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    records = _records(log)
    frames = [r for r in records if r["event"] == "frame"]
    assert frames[0]["type"] == "HELLO"
    assert frames[0]["class_names"] == ["left_hand", "right_hand"]
    decisions = [f for f in frames if f["type"] == "DECISION"]
    assert sum(not f["flags"] for f in decisions) >= 3  # real decisions arrived
    seqs = [f["seq"] for f in frames if f["type"] != "STOP"]
    assert all((b - a) % 65536 == 1 for a, b in zip(seqs, seqs[1:], strict=False)), seqs
    assert not [r for r in records if r["event"] in ("gap", "reject")]
    assert frames[-1]["type"] == "STOP"
    assert any(r["event"] == "state" and r.get("reason") == "stop" for r in records)
    host = [json.loads(x) for x in (tmp_path / "host.jsonl").read_text().splitlines()]
    assert host[-1]["type"] == "stop" and any(h["type"] == "decision" for h in host)
