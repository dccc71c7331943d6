"""Invalid values are refused before any work, with one line and a documented exit code
(README, "Refusals"). Each case here trained or ran with the value before (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import S007

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
