"""The live view (issue 17): the page, its Server-Sent Events, and the page in a real browser
(Debian's chromium driven by playwright) on a BrainFlow playback run of real EEG whose board
stalls half way."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import CYTON_CHANNELS, REPO, S007_R12

from edge.argtypes import view_address
from edge.decision import DecisionOutput, DecisionState
from edge.run_state import RunStateMachine, Session
from edge.view import LiveView
from firmware_bridge import FaultReason

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_view_address():
    assert view_address("8080") == ("127.0.0.1", 8080)
    assert view_address("0.0.0.0:0") == ("0.0.0.0", 0)
    assert view_address("[::1]:8080") == ("::1", 8080)
    for bad in ("x", "70000", ":80", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            view_address(bad)


class _Sse:
    """A minimal SSE client: ``next()`` returns (event, data)."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.conn.request("GET", "/events")
        self.resp = self.conn.getresponse()
        assert self.resp.getheader("Content-Type") == "text/event-stream"

    def next(self) -> tuple[str, dict]:
        event, data = "", ""
        while True:
            line = self.resp.fp.readline().decode()
            if line.startswith("event: "):
                event = line[7:].strip()
            elif line.startswith("data: "):
                data = line[6:].strip()
            elif line == "\n" and event:
                return event, json.loads(data)


def _get(port: int, path: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.getheader("Content-Type"), resp.read()


def test_page_state_and_events():
    view = LiveView(("127.0.0.1", 0), ["C3", "C4"], 250.0, {"decoder": "fgsft"})
    run = RunStateMachine([view])
    view.start(Session(("left_hand", "right_hand"), 8.0), run)
    run.link()
    port = int(view.url.rsplit(":", 1)[1].strip("/"))
    status, ctype, page = _get(port, "/")
    assert status == 200 and ctype.startswith("text/html")
    # one self-contained page: no script, style, font or image from anywhere else
    assert not re.search(rb"""(src|href)=["']?(https?:)?//""", page)
    assert b"EventSource" in page and b"<style>" in page
    assert _get(port, "/nope")[0] == 404
    sse = _Sse(port)
    event, snap = sse.next()
    assert event == "snapshot" and snap["label"] == "no decision"
    assert snap["classes"] == ["left_hand", "right_hand"]
    while not view.hub:
        time.sleep(0.01)
    from edge.source import Chunk

    sig = np.vstack([np.sin(np.arange(300) / 5.0) * 20, np.zeros(300)])
    view.on_read(Chunk(sig, np.arange(300) / 250.0, np.zeros(300)), 0, 0.0, 1.0)
    event, q = sse.next()
    assert event == "quality"
    assert [c["status"] for c in q["quality"]] == ["ok", "flat"]
    out = DecisionOutput(DecisionState.DECISION, 1, 0.9, np.array([0.1, 0.9]), "dwell")
    view.emit(out, {"t": 2.0, "raw_proba": [0.2, 0.8]})
    run.hop(True, 2.0)
    view.on_hop(None, out, 1.0, 0.004, 1.01)
    events = [sse.next() for _ in range(3)]
    assert events[0] == ("command", {**events[0][1], "kind": "decision", "class": "right_hand"})
    assert events[1][0] == "state" and events[1][1]["label"] == "decision"
    assert events[2][0] == "hop" and events[2][1]["hop"]["proba"] == [0.1, 0.9]
    assert events[2][1]["timing"]["decode_ms"] == 4.0
    run.enter_fault(FaultReason.BOARD_LOST, "board stalled", 3.0)
    assert [sse.next()[0] for _ in range(2)] == ["command", "state"]
    assert json.loads(_get(port, "/state")[2])["label"] == "fault"
    run.stop(4.0)
    got = [sse.next() for _ in range(3)]
    assert [e for e, _ in got] == ["command", "state", "bye"]
    assert got[1][1]["label"] == "stopped"


def _playback_with_stall(path, seconds: float, stall_at_s: float, stall_s: float) -> None:
    """S007 run 12 as a Cyton playback file whose timestamps jump by ``stall_s`` after
    ``stall_at_s``: BrainFlow paces the file by its timestamps, so the board falls silent."""
    from brainflow.board_shim import BoardShim
    from brainflow.data_filter import DataFilter

    from export.playback import write_playback

    write_playback(S007_R12, path, "cyton", CYTON_CHANNELS, start_s=0.0, duration_s=seconds)
    data = DataFilter.read_file(str(path))
    ts = BoardShim.get_timestamp_channel(0)
    data[ts, int(stall_at_s * 250):] += stall_s
    DataFilter.write_file(data, str(path), "w")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")
def test_view_in_chromium_shows_decisions_and_the_stall(s007_cyton_bundle, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    playback = tmp_path / "r12.csv"
    _playback_with_stall(playback, seconds=8.0, stall_at_s=4.5, stall_s=3.0)
    jsonl = tmp_path / "host.jsonl"
    run = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", str(s007_cyton_bundle), "--board", "playback",
         "--file", str(playback), "--loopback", "--out", f"jsonl:{jsonl}", "--dwell", "1",
         "--refractory", "0.5", "--view", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    shot = os.environ.get("MI_EDGE_VIEW_SCREENSHOT", str(tmp_path / "view.png"))
    try:
        url = None
        while url is None:  # the banner line names the view's address (port 0: a free one)
            line = run.stderr.readline()
            assert line, run.stderr.read()
            found = re.search(r"live view at (\S+)", line)
            url = found.group(1) if found else None
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"])
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(url)
            page.wait_for_selector("#commands li[data-kind=decision]", timeout=20000)
            page.wait_for_selector("#quality tr[data-channel=C3]", timeout=5000)
            page.wait_for_selector("#state[data-state=FAULT]", timeout=20000)
            assert "no new sample" in page.inner_text("#fault")
            assert page.inner_text("#state") == "fault"
            page.wait_for_timeout(300)
            page.screenshot(path=shot)
            run.send_signal(signal.SIGTERM)
            page.wait_for_selector("#state[data-state=STOPPED]", timeout=20000)
            shown = page.eval_on_selector_all(
                "#commands li", "els => els.map(e => [e.dataset.kind, e.dataset.class || null,"
                " e.textContent])")
            browser.close()
        assert run.wait(timeout=30) == 0, run.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
    records = [json.loads(x) for x in jsonl.read_text().splitlines()]
    recorded = [(r["class"], r["t"]) for r in records if r["type"] == "decision"]
    assert recorded, records
    # the page lists the newest 20 commands, newest first: the decisions among them are the
    # JSONL's newest, in order, at the same stream times
    page_decisions = [(cls, float(re.search(r"t=([\d.]+)s", text).group(1)))
                      for kind, cls, text in shown if kind == "decision"][::-1]
    assert [c for c, _ in page_decisions] == [c for c, _ in recorded[-len(page_decisions):]]
    assert np.allclose([t for _, t in page_decisions],
                       [t for _, t in recorded[-len(page_decisions):]], atol=0.006)
    kinds = [kind for kind, _, _ in shown]
    assert kinds[0] == "stop" and "fault" in kinds


# the synthetic board's first 8 inputs (as tests/test_calibrate.py)
SYNTH_MONTAGE = "Fz,C3,Cz,C4,Pz,PO7,Oz,PO8" + ",-" * 8


def test_calibrate_pushes_every_phase_and_signal_quality_to_the_view(tmp_path):
    """``mi-edge calibrate --view``: the page switches to the cue screen and hears each phase
    of a short session on BrainFlow's synthetic board, with counters, and the channels'
    quality; the stream ends with the session."""
    import threading

    from edge.boards import BoardConfig
    from edge.calibrate import Paradigm
    from edge.calibrate import Session as Calibration

    paradigm = Paradigm(trials=1, runs=2, cue_s=0.2, imagery_end_s=0.5, rest_s=(0.3, 0.3),
                        break_s=0.3, seed=1)
    board = BoardConfig(board="synthetic", montage=SYNTH_MONTAGE.split(","))
    session = Calibration(board, paradigm, tmp_path, "S09", sound=False,
                          view_address=("127.0.0.1", 0))
    port = int(session.view.url.rsplit(":", 1)[1].strip("/"))
    assert b'id="cue-panel"' in _get(port, "/")[2]
    sse = _Sse(port)
    event, snap = sse.next()  # subscribed from here on
    assert event == "snapshot" and snap["mode"] == "calibrate" and snap["phase"]["phase"] == \
        "waiting"
    assert snap["channels"] == SYNTH_MONTAGE.split(",")[:8] and snap["meta"]["subject"] == "S09"
    got: list[tuple[str, dict]] = []
    reader = threading.Thread(target=lambda: got.extend(iter(sse.next, ("bye", {}))))
    reader.start()
    results = session.record()
    reader.join(timeout=10)
    assert not reader.is_alive() and [r.trials for r in results] == [2, 2]
    phases = [d for e, d in got if e == "phase"]
    assert [p["phase"] for p in phases] == [
        *["fixation", "cue", "imagery", "rest"] * 2, "break",
        *["fixation", "cue", "imagery", "rest"] * 2, "done"]
    cues = [p for p in phases if p["phase"] == "cue"]
    assert sorted(p["class"] for p in cues[:2]) == ["left_hand", "right_hand"]  # balanced
    assert {p["class"]: p["arrow"] for p in cues} == {"left_hand": "left",
                                                      "right_hand": "right"}
    assert [(p["run"], p["last_run"], p["trial"], p["trials"]) for p in cues] == [
        (1, 2, 1, 2), (1, 2, 2, 2), (2, 2, 1, 2), (2, 2, 2, 2)]
    assert cues[0]["duration_s"] == pytest.approx(0.3)
    assert phases[8] == {**phases[8], "next_run": 2, "duration_s": 0.3}
    assert phases[-1]["runs_saved"] == [1, 2]
    # what the session printed reaches the page too (runs saved, the break)
    texts = [d["text"] for e, d in got if e == "message"]
    assert texts[0].startswith("run 1: 2 trials") and texts[1].startswith("break: run 2")
    quality = [d["quality"] for e, d in got if e == "quality"]
    assert quality and [c["channel"] for c in quality[-1]] == SYNTH_MONTAGE.split(",")[:8]
    assert all(c["status"] == "ok" and c["rms_uv"] > 0 for c in quality[-1])
    # the recording is what a session without a view writes: markers at the cues
    rec = np.load(results[0].npz)
    assert (rec["events"][:, 1] > 0).sum() == 2


def test_calibrate_without_view_serves_nothing(tmp_path, monkeypatch):
    import edge.view.calibration as calibration_view
    from edge.boards import BoardConfig
    from edge.calibrate import Paradigm
    from edge.calibrate import Session as Calibration

    monkeypatch.setattr(calibration_view, "CalibrationView", None)  # would fail if built
    board = BoardConfig(board="synthetic", montage=SYNTH_MONTAGE.split(","))
    session = Calibration(board, Paradigm(), tmp_path, "S09", sound=False)
    assert session.view is None  # and every _phase / _say / poll checks just that


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")
def test_calibrate_cue_screen_in_chromium(tmp_path):
    """The cue screen in a real browser: ``mi-edge calibrate --view`` on the synthetic board;
    the page shows the cue's arrow and class, the counters and the channels, then DONE."""
    playwright = pytest.importorskip("playwright.sync_api")
    run = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "calibrate", "--board", "synthetic", "--montage",
         SYNTH_MONTAGE, "--trials", "1", "--runs", "1", "--cue-at", "1", "--imagery-end", "3",
         "--rest", "0.5", "0.5", "--no-sound", "--seed", "2", "-o", str(tmp_path),
         "--view", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    shot = os.environ.get("MI_EDGE_CALIBRATE_SCREENSHOT", str(tmp_path / "calibrate.png"))
    try:
        url = None
        while url is None:
            line = run.stderr.readline()
            assert line, run.stderr.read()
            found = re.search(r"live view at (\S+)", line)
            url = found.group(1) if found else None
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"])
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(url)
            page.wait_for_selector("#quality tr[data-channel=C3]", timeout=20000)
            page.wait_for_selector("#phase[data-phase=cue]", timeout=20000)
            cls = page.get_attribute("#phase", "data-class")
            assert page.inner_text("#cue-word") == cls.replace("_", " ").upper()
            assert page.inner_text("#cue-symbol") == {"left_hand": "\u2190",
                                                       "right_hand": "\u2192"}[cls]
            assert re.match(r"run 1 of 1 · trial [12] of 2", page.inner_text("#counters"))
            assert not page.is_visible("#bars")  # the runtime's panels are hidden
            page.screenshot(path=shot)  # the cue shows 1.25 s
            page.wait_for_selector("#phase[data-phase=done]", timeout=30000)
            assert "runs saved: 1" in page.inner_text("#cue-hint")
            browser.close()
        assert run.wait(timeout=30) == 0, run.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
