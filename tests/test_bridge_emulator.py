"""The device emulator over a real pseudo-terminal, driven from this (another) process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
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


@contextlib.contextmanager
def _emulator_process(tmp_path, *extra: str):
    log = tmp_path / "bridge.jsonl"
    cmd = [
        sys.executable, "-m", "firmware_bridge.cli", "emulate", "--quiet",
        "--json-log", str(log), "--heartbeat-timeout-ms", str(TIMEOUT_MS), "--duration", "30",
        *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/"), (port, proc.stderr.read() if proc.poll() else "")
        yield proc, port, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def emulator(tmp_path):
    with _emulator_process(tmp_path) as (_, port, log):
        yield port, log


def _write_decisions(port, enc: FrameEncoder, seconds: float, period_s: float = 0.05) -> int:
    """Write DECISIONs (alternating class 0/1) for ``seconds``; returns how many."""
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        port.write(enc.decision(n % 2, 0.9))
        port.flush()
        n += 1
        time.sleep(period_s)
    return n


def _used_decision_ages(records: list[dict]) -> list[int]:
    """Age (ms, same machine's monotonic clock) of every DECISION the emulator acted on."""
    return [
        (r["mono_ms"] - r["timestamp_ms"]) % 2**32
        for r in records
        if r["event"] == "frame" and r["type"] == "DECISION" and r["outcome"] == "used"
    ]


def test_frozen_emulator_acts_on_no_stale_command(tmp_path):
    """Issue 10 acceptance: SIGSTOP the device for > timeout while the host keeps writing."""
    enc = FrameEncoder()  # clock: monotonic_ms, the same clock as the emulator's mono_ms
    with _emulator_process(tmp_path) as (proc, port_path, log):
        with serial.Serial(port_path, 115200, timeout=1, write_timeout=5) as port:
            port.write(DELIMITER + enc.hello(["left", "right"], 20.0, 100))
            _write_decisions(port, enc, 0.6)
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                frozen = _write_decisions(port, enc, 1.5)  # 5x the timeout, into the buffer
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            _write_decisions(port, enc, 0.6)
            port.write(enc.hello(["left", "right"], 20.0, 100))  # a deliberate restart
            _write_decisions(port, enc, 0.4)
            records = _wait_for(log, lambda r: sum(x.get("type") == "HELLO" for x in r) >= 2)
            time.sleep(0.3)
    records = _read_log(log)
    ages = _used_decision_ages(records)
    outcomes = [r["outcome"] for r in records if r["event"] == "frame"]
    print(f"frozen: {frozen} frames written while frozen, outcomes "
          f"{ {o: outcomes.count(o) for o in set(outcomes)} }, max used age {max(ages)} ms")
    assert ages and max(ages) <= TIMEOUT_MS
    assert outcomes.count("old") > 0 and ("SAFE", "timeout") in [
        (r["state"], r["reason"]) for r in records if r["event"] == "state"
    ]
    hello2 = [i for i, r in enumerate(records) if r.get("type") == "HELLO"][1]
    resumed = next(i for i, r in enumerate(records) if r.get("reason") == "timeout")
    assert not [r for r in records[resumed:hello2] if r.get("outcome") == "used"]


def test_slow_emulator_acts_on_no_stale_command(tmp_path):
    """Issue 10 acceptance: a device reading 128 B/s while the host writes ~500 B/s."""
    enc = FrameEncoder()
    with _emulator_process(tmp_path, "--read-bytes-per-s", "128") as (_, port_path, log):
        with serial.Serial(port_path, 115200, timeout=1, write_timeout=10) as port:
            port.write(DELIMITER + enc.hello(["left", "right"], 20.0, 100))
            written = _write_decisions(port, enc, 3.0)
            time.sleep(3.0)
    records = _read_log(log)
    ages = _used_decision_ages(records)
    outcomes = [r["outcome"] for r in records if r["event"] == "frame"]
    hello = next(r for r in records if r.get("type") == "HELLO")
    hello_delay = (hello["mono_ms"] - hello["timestamp_ms"]) % 2**32
    print(f"slow: {written} decisions written, outcomes "
          f"{ {o: outcomes.count(o) for o in set(outcomes)} }, used ages {ages} ms, "
          f"HELLO arrived {hello_delay} ms after it was written")
    # The device learns the host clock from the HELLO: it cannot see the HELLO's own delay
    # (here its 330 ms line time at 128 B/s), so the bound is timeout + that delay.
    # (PROTOCOL.md 5, residual risk). Everything after is refused once older than the timeout.
    assert ages and max(ages) <= TIMEOUT_MS + hello_delay
    assert outcomes.count("old") > 5 and outcomes.count("used") <= 3


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


def test_emulator_ascii_mode_nul_before_hello_labels_learned_and_summary():
    """Issue 10: a NUL before the HELLO line made it a syntax error, every decision was then
    rejected as 'label' unless --labels was given, and the summary said frames=0."""
    from firmware_bridge.ascii_mode import AsciiEncoder
    from firmware_bridge.emulator import Emulator

    records: list[dict] = []
    enc = AsciiEncoder(["left", "right"])
    emu = Emulator(ascii_mode=True, heartbeat_timeout_ms=500, on_record=records.append)
    emu.step(b"\x00" + enc.hello() + enc.decision(1, 0.9) + enc.decision(0, 0.98, 1))
    assert not [r for r in records if r["event"] == "reject"]
    assert [r["command"] for r in records if r["event"] == "command"] == [1, -1]
    hold = [r for r in records if r.get("flags") == 1]
    assert hold and hold[0]["confidence_u8"] == 0
    assert emu.summary()["frames"] == 3
