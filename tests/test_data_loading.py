"""Data loading on the real eegmmidb recordings bundled in data/."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import S007, S007_R12

from export.data import DataError, load_epochs, parse_event_map


def test_epochs_by_channel_name_class_and_window():
    ep = load_epochs([S007], channels=["C4", "c3", "Cz"], classes=["right_hand", "left_hand"],
                     window=(0.5, 2.5))
    assert ep.X.shape == (45, 3, 320)
    assert ep.ch_names == ["C4", "C3", "Cz"]
    assert ep.class_names == ["right_hand", "left_hand"]
    raw = np.load(S007)
    # class order is the one asked for: right_hand is now class 0
    assert np.array_equal(ep.y == 0, raw["y"] == 1)
    c4 = list(raw["ch_names"]).index("C4")
    # window 0.5 s after the cue = sample 80 + 80 of the stored epoch (tmin -0.5 s, 160 Hz)
    np.testing.assert_array_equal(ep.X[:, 0], raw["X"][:, c4, 160:480])
    assert sorted(set(ep.runs.tolist())) == [4, 8, 12]
    assert len(np.unique(ep.groups)) == 3


def test_continuous_file_epochs_match_the_epoch_file():
    """Epoching the continuous run 12 from its events gives exactly the stored run-12 epochs."""
    cont = load_epochs([S007_R12], window=(0.5, 2.5))
    ref = load_epochs([S007], window=(0.5, 2.5), runs=[12])
    assert cont.class_names == ref.class_names == ["left_hand", "right_hand"]
    np.testing.assert_array_equal(cont.y, ref.y)
    np.testing.assert_allclose(cont.X, ref.X)


def test_resampling_to_a_target_rate():
    ep = load_epochs([S007], window=(0.5, 2.5), sfreq=250.0, runs=[4])
    assert ep.sfreq == 250.0 and ep.X.shape == (15, 64, 500)


def test_missing_channel_is_named():
    with pytest.raises(DataError, match="C3, XYZ1|XYZ1") as err:
        load_epochs([S007], channels=["C3", "XYZ1"])
    assert "XYZ1" in str(err.value) and "not in the recording" in str(err.value)


def test_missing_class_is_named():
    with pytest.raises(DataError, match="both_feet"):
        load_epochs([S007], classes=["left_hand", "both_feet"])


def test_window_outside_the_epoch():
    with pytest.raises(DataError, match="outside the stored epochs"):
        load_epochs([S007], window=(3.0, 5.0))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_epochs([tmp_path / "nope.npz"])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(S007.read_bytes()[:5000])
    with pytest.raises(DataError, match="not a readable npz|bad.npz"):
        load_epochs([bad])


def test_missing_key(tmp_path):
    f = tmp_path / "nolabels.npz"
    raw = dict(np.load(S007))
    del raw["y"]
    np.savez(f, **raw)
    with pytest.raises(DataError, match="missing key"):
        load_epochs([f])


def test_nan_samples_refused(tmp_path):
    f = tmp_path / "nan.npz"
    raw = dict(np.load(S007))
    raw["X"] = raw["X"].copy()
    raw["X"][3, 5, 100] = np.nan
    np.savez(f, **raw)
    with pytest.raises(DataError, match="NaN"):
        load_epochs([f])


def test_event_map_parsing():
    assert parse_event_map("769=left_hand,770=right_hand") == {769: "left_hand",
                                                               770: "right_hand"}
    with pytest.raises(DataError, match="CODE=CLASS or NAME=CLASS"):
        parse_event_map("left")


@pytest.mark.parametrize("rate", [0.0, -160.0, float("nan")])
def test_a_file_with_a_non_positive_sampling_rate_is_refused(tmp_path, rate):
    """A zero, negative or NaN ``sfreq`` in a data file is one clear error, not a traceback
    deep in the resampler (issue 11)."""
    d = dict(np.load(S007))
    d["sfreq"] = np.array(rate)
    bad = tmp_path / "bad_rate.npz"
    np.savez(bad, **d)
    with pytest.raises(DataError, match="sampling rate .* expected a positive rate"):
        load_epochs([bad], window=(0.5, 2.5))
