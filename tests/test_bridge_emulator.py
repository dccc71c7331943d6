"""The device emulator over a real pseudo-terminal, driven from this (another) process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from firmware_bridge import cobs
from firmware_bridge.frames import DELIMITER, FrameEncoder

TIMEOUT_MS = 300


def _read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def _wait_for(path: Path, predicate, timeout_s: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = _read_log(path)
        if predicate(records):
            return records
        time.sleep(0.02)
    raise AssertionError(f"emulator log never matched; got {_read_log(path)}")


@pytest.fixture
def emulator(tmp_path):
    log = tmp_path / "bridge.jsonl"
    cmd = [
        sys.executable, "-m", "firmware_bridge.cli", "emulate",
        "--json-log", str(log), "--heartbeat-timeout-ms", str(TIMEOUT_MS), "--duration", "30",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/"), (port, proc.stderr.read() if proc.poll() else "")
        yield port, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_emulator_decodes_rejects_and_goes_safe(emulator):
    port_path, log = emulator
    enc = FrameEncoder()
    with serial.Serial(port_path, 115200, timeout=1) as port:
        port.write(DELIMITER + enc.hello(["left", "right"], 4.0, 100))
        for cls, conf in ((0, 0.8), (1, 0.9), (0, 0.95)):
            port.write(enc.decision(cls, conf))
            port.flush()
            time.sleep(0.02)
        corrupted = bytearray(cobs.decode(enc.decision(1, 0.9)[:-1]))
        corrupted[9] ^= 0x01  # class byte 1 -> 0: the CRC no longer matches
        port.write(cobs.encode(bytes(corrupted)) + DELIMITER)
        port.write(enc.decision(1, 0.7))  # next valid one: seq gap of 1 (the rejected frame)
        port.flush()
        t_last = time.monotonic()
        records = _wait_for(log, lambda r: any(x.get("reason") == "timeout" for x in r))
    silence = time.monotonic() - t_last

    frames = [r for r in records if r["event"] == "frame"]
    assert [f["type"] for f in frames] == ["HELLO"] + ["DECISION"] * 4
    assert frames[0]["class_names"] == ["left", "right"]
    assert [(f["class_index"], f["confidence_u8"]) for f in frames[1:]] == [
        (0, 204), (1, 230), (0, 242), (1, 178),
    ]
    assert [r["reason"] for r in records if r["event"] == "reject"] == ["crc"]
    assert [r["lost"] for r in records if r["event"] == "gap"] == [1]
    commands = [r["command"] for r in records if r["event"] == "command"]
    assert commands == [0, 1, 0, 1, -1]
    states = [(r["state"], r["reason"]) for r in records if r["event"] == "state"]
    assert states == [("LINKED", "none"), ("SAFE", "timeout")]
    last_frame_t = frames[-1]["t_ms"]
    safe_t = next(r["t_ms"] for r in records if r.get("reason") == "timeout")
    assert TIMEOUT_MS < safe_t - last_frame_t < TIMEOUT_MS + 1000  # never early; late = load
    assert silence < 10


def test_emulator_stop_is_immediate(emulator):
    port_path, log = emulator
    enc = FrameEncoder()
    with serial.Serial(port_path, 115200, timeout=1) as port:
        port.write(DELIMITER + enc.hello(["a", "b"], 4.0) + enc.decision(1, 1.0) + enc.stop())
        port.flush()
        records = _wait_for(log, lambda r: any(x.get("reason") == "stop" for x in r))
    assert [r["command"] for r in records if r["event"] == "command"] == [1, -1]


def test_emulator_ascii_mode_applies_the_same_rules():
    from firmware_bridge.emulator import Emulator

    records: list[dict] = []
    emu = Emulator(ascii_mode=True, heartbeat_timeout_ms=100, on_record=records.append)
    emu.step(b"!HELLO L=left R=right\nR 0.90\nQ 0.50\nL 7.00\n")
    emu.step(b"- 0.30\n!FAULT board_lost\nL 0.90\n")
    events = [(r["event"], r.get("reason") or r.get("command") or r.get("type")) for r in records]
    assert events == [
        ("frame", "HELLO"), ("state", "none"), ("frame", "DECISION"), ("command", 1),
        ("reject", "label"), ("reject", "syntax"),
        ("frame", "DECISION"), ("command", -1), ("frame", "FAULT"), ("state", "fault"),
        ("frame", "DECISION"), ("ignored", None),
    ]
    assert emu.receiver.rejected == 1 and emu.receiver.is_safe
