"""Metrics against hand-computed values, and the evaluate/report CLIs on a real bundle."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import S007, S007_R12

from export.cli import main as export_main
from export.metrics import cohen_kappa, confusion, summarize, wolpaw_itr_bits


def test_wolpaw_itr():
    assert wolpaw_itr_bits(1.0, 2) == 1.0
    assert wolpaw_itr_bits(0.5, 2) == 0.0
    p = 0.8
    expected = 1 + p * math.log2(p) + (1 - p) * math.log2(1 - p)
    assert wolpaw_itr_bits(p, 2) == pytest.approx(expected)
    assert wolpaw_itr_bits(0.7, 4) == pytest.approx(
        2 + 0.7 * math.log2(0.7) + 0.3 * math.log2(0.1))


def test_kappa_and_confusion():
    cm = confusion(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    assert cm.tolist() == [[1, 1], [0, 2]]
    # po = 0.75, pe = (1*2 + 3*2)/16 = 0.5 -> kappa 0.5
    assert cohen_kappa(cm) == pytest.approx(0.5)
    s = summarize(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), ["a", "b"], 2.0)
    assert s["accuracy"] == 1.0 and s["itr_bits_per_min"] == pytest.approx(30.0)


def test_evaluate_json_on_held_out_run(s007_fast_bundle, capsys):
    path, clf, _ = s007_fast_bundle
    assert export_main(["evaluate", str(path), str(S007), "--runs", "12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    r = out["fgsft"]
    for key in ("accuracy", "kappa", "itr_bits_per_min", "n_trials", "confusion"):
        assert key in r
    assert r["n_trials"] == 15 and r["accuracy"] >= 0.8
    # the continuous recording of the same run gives the same trials and the same result
    assert export_main(["evaluate", str(path), str(S007_R12), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fgsft"] == r | {"runs": [12]}


def test_evaluate_refuses_data_without_the_bundle_channels(s007_fast_bundle, tmp_path, capsys):
    path, _, _ = s007_fast_bundle
    raw = dict(np.load(S007))
    keep = [i for i, c in enumerate(raw["ch_names"]) if c != "C3"]
    raw["X"] = raw["X"][:, keep]
    raw["ch_names"] = raw["ch_names"][keep]
    f = tmp_path / "noC3.npz"
    np.savez(f, **raw)
    assert export_main(["evaluate", str(path), str(f)]) != 0
    assert "C3" in capsys.readouterr().err


def test_report_writes_both_pictures(s007_fast_bundle, tmp_path):
    path, _, _ = s007_fast_bundle
    assert export_main(["report", str(path), "-o", str(tmp_path / "rep")]) == 0
    for name in ("time_frequency_reaction_map.png", "electrode_group_significance.png"):
        png = tmp_path / "rep" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
