"""Every file MNE reads trains like the project's npz: eegmmidb runs written to EDF and BDF (as
eegmmidb itself was distributed) with their T0/T1/T2 annotations, read back by the trainers,
``mi-export evaluate`` and ``mi-export convert``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import CYTON_CHANNELS, DATA

from edge.errors import InputError
from edge.recording import load_continuous
from export.data import DataError, load_epochs
from export.event_map import parse_event_map
from export.fgsft import FGSFTConfig
from export.mne_formats import read_recording
from export.train_fgsft import train_fgsft

mne = pytest.importorskip("mne")
pytest.importorskip("edfio")  # mne.export writes EDF/BDF through it

RUNS = [DATA / "S007_R04_continuous.npz", DATA / "S007_R08_continuous.npz"]
T_MAP = {"T1": "left_hand", "T2": "right_hand"}
KW = {"window": (0.5, 2.5), "channels": CYTON_CHANNELS}
#: eegmmidb's samples are whole µV (np.diff(np.unique(raw)) is 1): with 1 µV per digital step
#: EDF's 16 bits hold them exactly (the original files used ±8092 for both ranges)
ONE_UV_PER_STEP = (-32767, 32767)


def write_mne(npz, out, fmt: str, physical_range="auto"):
    """The run as EDF/BDF with its cues as eegmmidb's own annotations (T0, T1, T2)."""
    rec = load_continuous(npz)
    raw = mne.io.RawArray(rec.raw * 1e-6, mne.create_info(rec.ch_names, rec.sfreq, "eeg"),
                          verbose="error")
    with np.load(npz) as d:
        durations = d["event_durations_s"]
    labels = [rec.event_names[c].split()[0] for c in rec.events[:, 1]]
    raw.set_annotations(mne.Annotations(rec.events[:, 0] / rec.sfreq, durations, labels))
    mne.export.export_raw(out, raw, fmt=fmt, physical_range=physical_range, overwrite=True,
                          verbose="error")
    return out


@pytest.fixture(scope="module")
def npz_model():
    ep = load_epochs(RUNS, **KW)
    return ep, train_fgsft(ep, FGSFTConfig(grid="fast", jobs=1))


def _written(tmp_path, fmt, physical_range):
    # eegmmidb's names (S007R04.edf): the run number comes from the file name
    return [write_mne(n, tmp_path / f"S007R{n.name[6:8]}.{fmt}", fmt, physical_range)
            for n in RUNS]


def test_edf_of_an_eegmmidb_run_trains_the_same_decoder_as_its_npz(npz_model, tmp_path):
    ep, clf = npz_model
    edf = _written(tmp_path, "edf", ONE_UV_PER_STEP)
    rec, ref = read_recording(edf[0]), load_continuous(RUNS[0])
    assert rec.ch_names == ref.ch_names and rec.sfreq == 160.0 and rec.run == 4
    assert rec.event_names == ["T0", "T1", "T2"] and np.array_equal(rec.events, ref.events)
    assert np.abs(rec.raw - ref.raw).max() < 1e-9  # 1 µV steps: exact up to V<->µV rounding
    with pytest.raises(InputError, match="cannot infer the cue classes"):
        load_epochs(edf, **KW)  # 'T1' alone does not say which hand: --events does
    from_edf = load_epochs(edf, event_map=T_MAP, **KW)
    assert np.array_equal(from_edf.y, ep.y) and np.array_equal(from_edf.runs, ep.runs)
    assert from_edf.class_names == ep.class_names == ["left_hand", "right_hand"]
    edf_clf = train_fgsft(from_edf, FGSFTConfig(grid="fast", jobs=1))
    assert edf_clf.scores_["chosen_j"] == clf.scores_["chosen_j"]
    feats = clf.model_.segment_features(ep.X)
    assert np.abs(edf_clf.model_.segment_features(from_edf.X) - feats).max() < 1e-6
    assert np.abs(edf_clf.predict_proba(ep.X) - clf.predict_proba(ep.X)).max() < 1e-6


@pytest.mark.parametrize(("fmt", "limit"), [("edf", 1e-2), ("bdf", 1e-4)])
def test_edf_and_bdf_scaled_to_the_data_range_deviate_by_their_quantisation(
        npz_model, tmp_path, fmt, limit):
    """MNE's default physical range (the data's min..max) puts the µV off the digital grid:
    EDF (16 bits) moves features by ~5e-3, BDF (24 bits) by ~2e-5: measured, not 1e-6."""
    ep, clf = npz_model
    got = load_epochs(_written(tmp_path, fmt, "auto"), event_map=T_MAP, **KW)
    dev = np.abs(clf.model_.segment_features(got.X) - clf.model_.segment_features(ep.X)).max()
    assert 1e-7 < dev < limit


def test_fif_and_named_or_numbered_events(tmp_path):
    rec = load_continuous(RUNS[0])
    raw = mne.io.RawArray(rec.raw * 1e-6, mne.create_info(rec.ch_names, rec.sfreq, "eeg"),
                          verbose="error")
    # GDF-style numeric descriptions (769/770: BCI Competition IV) and a BAD span to ignore
    cues = rec.events[rec.events[:, 1] > 0]
    desc = [str(768 + c) for c in cues[:, 1]]
    raw.set_annotations(mne.Annotations([*(cues[:, 0] / rec.sfreq), 1.0], [4.0] * len(cues)
                                        + [0.5], [*desc, "BAD_muscle"]))
    fif = tmp_path / "S007_R04_raw.fif"
    raw.save(fif, fmt="double", verbose="error")
    back = read_recording(fif)
    assert back.event_names == ["769", "770"] and back.run == 4
    assert np.abs(back.raw - rec.raw).max() < 1e-9
    ep = load_epochs([fif], event_map=parse_event_map("769=left_hand,770=right_hand"), **KW)
    ref = load_epochs([RUNS[0]], **KW)
    assert np.array_equal(ep.y, ref.y) and np.abs(ep.X - ref.X).max() < 1e-9
    with pytest.raises(DataError, match="no event named 'T1'.*'769', '770'"):
        load_epochs([fif], event_map=T_MAP, **KW)


def test_convert_writes_the_npz_of_an_edf_and_unknown_files_get_one_line(tmp_path, capsys):
    from export.cli import main

    edf = write_mne(RUNS[0], tmp_path / "S007R04.edf", "edf", ONE_UV_PER_STEP)
    out = tmp_path / "S007_R04_continuous.npz"
    assert main(["convert", str(edf), "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["event_names"] == ["T0", "T1", "T2"] and summary["events"] == 30
    ep = load_epochs([out], event_map=parse_event_map("T1=left_hand,T2=right_hand"), **KW)
    assert np.abs(ep.X - load_epochs([RUNS[0]], **KW).X).max() < 1e-9
    junk = tmp_path / "notes.xyz"
    junk.write_bytes(b"\x00\x01 not a recording")
    assert main(["convert", str(junk), "-o", str(tmp_path / "j.npz")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "EDF, BDF, GDF, FIF" in err[0] and "BrainFlow" in err[0]


def test_evaluate_scores_an_edf_like_its_npz(npz_model, tmp_path):
    from export.evaluate import evaluate_bundle
    from export.train_fgsft import write_fgsft

    ep, clf = npz_model
    bundle = write_fgsft(tmp_path / "S007c.mibundle", "fgsft", clf, ep)
    edf = write_mne(RUNS[1], tmp_path / "S007R08.edf", "edf", ONE_UV_PER_STEP)
    via_edf = evaluate_bundle(bundle, [edf], event_map=T_MAP)["fgsft"]
    via_npz = evaluate_bundle(bundle, [RUNS[1]])["fgsft"]
    assert via_edf["runs"] == via_npz["runs"] == [8]
    assert via_edf["accuracy"] == via_npz["accuracy"]
    assert via_edf["confusion"] == via_npz["confusion"]
