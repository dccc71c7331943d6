"""Invalid values are refused before any work, with one line and a documented exit code
(README, "Refusals"). Each case here trained or ran with the value before (issue 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import S007, S007_R12

from export.cli import main as export_main


@pytest.mark.parametrize("argv, needle", [
    (["fgsft", str(S007), "-o", "x", "--filters", "0"], "--filters: 0: expected an integer >= 1"),
    (["fgsft", str(S007), "-o", "x", "--lam", "-0.1"], "--lam: -0.1: expected a number >= 0"),
    (["fgsft", str(S007), "-o", "x", "--jobs", "0"], "--jobs: 0: expected an integer >= 1"),
    (["stffda", str(S007), "-o", "x", "--epochs", "0"], "--epochs: 0: expected an integer >= 1"),
    (["stffda", str(S007), "-o", "x", "--lr", "nan"], "'nan': expected a finite number"),
    (["playback", str(S007), "-o", "x", "--channels", "C3", "--duration", "-1"],
     "--duration: -1: expected a number > 0"),
    (["demo", "--speed", "inf"], "'inf': expected a finite number"),
])
def test_bad_numbers_are_refused_at_the_command_line(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        export_main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_too_few_trials_per_class_is_refused(tmp_path, capsys):
    """Four trials per class once trained a decoder reported at 1.000; now it is refused."""
    d = dict(np.load(S007))
    keep = np.r_[np.flatnonzero(d["y"] == 0)[:4], np.flatnonzero(d["y"] == 1)[:4]]
    for k in ("X", "y", "run"):
        d[k] = d[k][keep]
    small = tmp_path / "four_per_class.npz"
    np.savez(small, **d)
    out = tmp_path / "b.mibundle"
    assert export_main(["fgsft", str(small), "--grid", "fast", "-o", str(out), "-q"]) == 4
    err = capsys.readouterr().err
    assert "too few training trials" in err and "at least 10 per class" in err
    assert not out.exists()


# -- mi-edge and mi-bridge (the pre-restructure demo bundle is enough: nothing gets to run) -----

BUNDLE = str(Path(__file__).parent / "fixtures" / "demo_v0_S007_cyton.mibundle")
RUN = ["run", BUNDLE, "--montage", "C3,Cz,C4,FC3,FC4,CP3,CP4,C1", "--out", "stdout"]


@pytest.mark.parametrize("argv, code, needle", [
    ([*RUN, "--hop", "nan"], 2, "--hop: 'nan': expected a finite number"),
    ([*RUN, "--duration", "0"], 2, "--duration: 0: expected a number > 0"),
    ([*RUN, "--out", "bogus"], 2,
     "'bogus': expected serial:PORT, jsonl:PATH, stdout or lsl[:NAME]"),
    ([*RUN, "--view", "localhost"], 2, "expected [HOST:]PORT, e.g. 8080"),
    ([*RUN, "--board", "lsl:"], 2, "--board lsl:STREAM: give the LSL stream's name"),
    ([*RUN, "--heartbeat-ms", "0"], 2, "--heartbeat-ms: 0: expected an integer >= 1"),
    ([*RUN, "--heartbeat-ms", "400"], 2, "the device goes safe after 500 ms"),
    ([*RUN, "--hop", "0.001"], 2, "shorter than one sample at 250 Hz"),
    ([*RUN, "--threshold", "1.5"], 2, "threshold 1.5: expected a probability"),
    ([*RUN, "--board", "streaming"], 4, "board streaming needs master_board"),
    (["profile", BUNDLE, "-o", str(Path(__file__)), "--duration", "1"], 6,
     "exists and is not a directory"),
])
def test_mi_edge_refuses_before_touching_the_board(argv, code, needle, capsys):
    from edge.cli import main as edge_main

    try:
        rc = edge_main(argv)
    except SystemExit as exc:  # argparse's own refusals
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == code and needle in err and "Traceback" not in err, err


def test_replay_refuses_a_too_short_recording_and_one_without_cues(tmp_path, capsys):
    from edge.cli import main as edge_main

    d = dict(np.load(S007_R12))
    short = tmp_path / "short.npz"
    np.savez(short, **{**d, "raw": d["raw"][:, :160], "events": d["events"][:1]})
    none = tmp_path / "no_cues.npz"
    np.savez(none, **{**d, "events": d["events"][:0]})
    assert edge_main(["replay", BUNDLE, str(short)]) == 4
    assert "shorter than the decoder's 2 s window" in capsys.readouterr().err
    assert edge_main(["replay", BUNDLE, str(none)]) == 4
    assert "no cue of the bundle's classes" in capsys.readouterr().err


@pytest.mark.parametrize("argv, code, needle", [
    (["emulate", "--baud", "0"], 2, "--baud: 0: expected an integer >= 1"),
    (["emulate", "--duration", "nan"], 2, "'nan': expected a finite number"),
    (["emulate", "--heartbeat-timeout-ms", "70000"], 2, "expected 1..65535 ms"),
    (["emulate", "--key", "zz"], 2, "expected 32 hex digits"),
    (["emulate", "--class-hash", "xyz"], 2, "expected a 32-bit number"),
    (["send", "--port", "/dev/null", "--rate", "0"], 2, "--rate: 0: expected a number > 0"),
    (["send", "--port", "/dev/null", "--classes", ","], 2, "expected comma-separated"),
    (["send", "--port", "/nonexistent/tty"], 6, "could not open port /nonexistent/tty"),
    (["emulate", "--port", "/nonexistent/tty", "--duration", "1"], 6, "could not open port"),
])
def test_mi_bridge_errors_are_one_line(argv, code, needle, capsys):
    from firmware_bridge.cli import main as bridge_main

    try:
        rc = bridge_main(argv)
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == code and needle in err and "Traceback" not in err, err
