"""The files users already have: BrainFlow files (with or without a sidecar) and OpenBCI GUI
text recordings are read for training and replay; what cannot be read gets one clear line."""

from __future__ import annotations

import gzip
import json
import shutil

import numpy as np
import pytest
from conftest import REPO, S007_R12

from edge.errors import InputError
from edge.recording import load_continuous
from edge.signal_check import check_signal
from export.data import load_epochs
from export.playback import write_playback

CYTON = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]
GUI = REPO / "tests" / "fixtures" / "openbci_gui" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt.gz"
DEMO = REPO / "tests" / "fixtures" / "demo_v0_S007_cyton.mibundle"


@pytest.fixture(scope="module")
def r12_csv(tmp_path_factory):
    out = tmp_path_factory.mktemp("bf") / "S007_R12.csv"
    write_playback(S007_R12, out, "cyton", CYTON)
    return out


def test_openbci_gui_recording_is_read_with_its_rate_channels_and_values(tmp_path):
    rec = load_continuous(GUI)
    assert rec.sfreq == 250.0 and rec.raw.shape == (8, 22490)
    assert rec.ch_names == ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"]  # GUI placement
    assert rec.raw[:, 0].tolist() == [61379.36, 49492.89, -16597.06, -21309.75, 6703.91,
                                      -3284.86, 7223.10, 1740.11]  # the file's first row
    assert rec.events.shape == (0, 2)  # its marker column is all zero
    plain = tmp_path / "gui_plain.txt"
    plain.write_bytes(gzip.decompress(GUI.read_bytes()))
    assert np.array_equal(load_continuous(plain).raw, rec.raw)  # gzip or not
    # a real Cyton recording with DC offsets of tens of mV: the check measures it all the same
    report = check_signal(rec.raw[:, 2500:3500], rec.sfreq, rec.ch_names)
    assert all(c.railed_pct < 75 and c.nan_pct == 0 for c in report)


def test_brainflow_file_trains_like_its_npz(r12_csv, tmp_path):
    kw = {"window": (0.5, 2.5), "channels": CYTON, "sfreq": 250.0}
    from_csv = load_epochs([r12_csv], **kw)
    from_npz = load_epochs([S007_R12], **kw)
    assert from_csv.class_names == from_npz.class_names == ["left_hand", "right_hand"]
    assert np.array_equal(from_csv.y, from_npz.y) and set(from_csv.runs) == {12}
    assert np.abs(from_csv.X - from_npz.X).max() < 1e-5  # %lf: six decimals
    # without its sidecar: board inferred from 24 columns + 250 Hz timestamps, GUI names
    bare = tmp_path / "bare.csv"
    shutil.copy(r12_csv, bare)
    rec = load_continuous(bare)
    assert rec.sfreq == 250.0 and rec.ch_names[:2] == ["Fp1", "Fp2"]
    assert rec.event_names == ["marker 1", "marker 2", "marker 3"]  # code = marker - 1
    with pytest.raises(InputError, match="cannot infer the cue classes"):
        load_epochs([bare])
    ep = load_epochs([bare], event_map={1: "left_hand", 2: "right_hand"}, window=(0.5, 2.5))
    assert np.array_equal(ep.y, from_npz.y)


def test_replay_reads_a_brainflow_file_like_its_npz(tmp_path):
    from edge.replay import replay

    rec = load_continuous(S007_R12)
    n = 45 * 160  # the first 45 s of run 12, as npz and as a BrainFlow file
    npz = tmp_path / "S007_R12_45s_continuous.npz"
    np.savez(npz, raw=rec.raw[:, :n], events=rec.events[rec.events[:, 0] < n - 400],
             event_names=np.array(rec.event_names), ch_names=np.array(rec.ch_names),
             sfreq=rec.sfreq, subject="S007", run=12)
    csv = tmp_path / "S007_R12_45s.csv"
    write_playback(npz, csv, "cyton", CYTON)
    via_csv = replay(DEMO, [csv], decoders=["fgsft"])["fgsft"]
    via_npz = replay(DEMO, [npz], decoders=["fgsft"])["fgsft"]
    assert via_csv["n_cues"] == via_npz["n_cues"] >= 5
    assert via_csv["aligned_window_accuracy"] == via_npz["aligned_window_accuracy"]
    assert via_csv["decision_accuracy"] == via_npz["decision_accuracy"]


def test_what_cannot_be_read_gets_one_clear_line(tmp_path, r12_csv):
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\n")
    with pytest.raises(InputError, match="accepted: continuous npz"):
        load_continuous(odd)
    wide = tmp_path / "wide.csv"
    wide.write_text("\t".join(["1.0"] * 7) + "\n")
    with pytest.raises(InputError, match="--master-board"):
        load_continuous(wide)
    with pytest.raises(InputError, match="values per line"):
        load_continuous(r12_csv, board="cyton-daisy")
    side = json.loads((r12_csv.parent / (r12_csv.name + ".json")).read_text())
    assert side["board_id"] == 0


def test_mi_export_convert_writes_the_npz_form(tmp_path, capsys):
    from export.cli import main

    out = tmp_path / "gui_continuous.npz"
    assert main(["convert", str(GUI), "--run", "3", "--channels", "Fp1", "Fp2", "C3", "C4",
                 "P7", "P8", "O1", "Oz", "-o", str(out)]) == 0
    rec = load_continuous(out)
    assert rec.run == 3 and rec.ch_names[-1] == "Oz"
    assert np.array_equal(rec.raw, load_continuous(GUI).raw)
    assert main(["convert", str(GUI), "--channels", "C3", "-o", str(out)]) == 4
    assert "1 names for the recording's 8" in capsys.readouterr().err
