"""mi-export playback: BrainFlow playback files from the real S007 run-12 recording."""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import pytest
from brainflow.board_shim import BoardShim
from brainflow.data_filter import DataFilter
from conftest import S007_R12

from export.commands.playback import add_subparser
from export.data import DataError, _resample, file_sha256, load_continuous
from export.playback import write_playback

CHANNELS = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "Fz"]


@pytest.fixture(scope="module")
def rec():
    return load_continuous(S007_R12)


def test_cyton_file_rows_values_counter_timestamps_markers(tmp_path, rec):
    pf = write_playback(S007_R12, tmp_path / "s007.csv", "cyton", CHANNELS, duration_s=13.0)
    data = DataFilter.read_file(str(pf.path))
    assert data.shape == (BoardShim.get_num_rows(0), 13 * 250) == (24, 3250)
    assert pf.n_samples == 3250 and pf.sfreq == 250.0

    idx = [rec.ch_names.index(c) for c in CHANNELS]
    expected, _ = _resample(rec.raw[idx, : 13 * 160], 160.0, 250.0)
    eeg = BoardShim.get_eeg_channels(0)
    np.testing.assert_allclose(data[eeg], expected, rtol=1e-5, atol=1e-6)  # %lf: 6 decimals

    counter = data[BoardShim.get_package_num_channel(0)]
    assert counter[:3].tolist() == [0, 1, 2] and counter[256] == 0 and counter.max() == 255
    ts = data[BoardShim.get_timestamp_channel(0)]
    np.testing.assert_allclose(np.diff(ts), 1 / 250, atol=2e-6)

    marker = data[BoardShim.get_marker_channel(0)]
    onsets = rec.events[rec.events[:, 0] < 13 * 160]
    want = {int(round(o * 250 / 160)): int(c) + 1 for o, c in onsets}
    got = {int(i): int(marker[i]) for i in np.flatnonzero(marker)}
    assert got == want == {0: 1, 1050: 2, 2075: 1, 3125: 3}  # rest=1, left=2, right=3
    assert pf.markers.tolist() == [list(kv) for kv in sorted(want.items())]

    used = set(eeg) | {0, BoardShim.get_timestamp_channel(0), BoardShim.get_marker_channel(0)}
    others = [r for r in range(24) if r not in used]
    assert not np.any(data[others])


def test_sidecar_documents_channels_markers_and_source(tmp_path):
    pf = write_playback(S007_R12, tmp_path / "p.csv", "cyton", CHANNELS, duration_s=5.0)
    assert pf.sidecar == tmp_path / "p.csv.json"
    side = json.loads(pf.sidecar.read_text())
    assert side["channels"] == CHANNELS
    assert side["board_id"] == 0 and side["num_rows"] == 24 and side["sfreq"] == 250.0
    assert side["marker_map"] == {"1": "T0 rest", "2": "T1 left_hand", "3": "T2 right_hand"}
    assert side["source"]["sha256"] == file_sha256(S007_R12)
    assert side["source"]["sfreq"] == 160.0 and side["source"]["duration_s"] == 5.0


@pytest.mark.parametrize("board, rows, rate", [("cyton", 24, 250), ("cyton-daisy", 32, 125),
                                               (-1, 32, 250)])
def test_every_line_has_the_master_boards_row_count(tmp_path, board, rows, rate):
    """The silent-zero-samples trap: BrainFlow skips lines of any other width."""
    pf = write_playback(S007_R12, tmp_path / "f.csv", board, ["C3", "C4"], duration_s=2.0)
    widths = {len(line.rstrip("\n").split("\t")) for line in pf.path.open()}
    assert widths == {rows} and pf.sfreq == rate
    assert DataFilter.read_file(str(pf.path)).shape == (rows, 2 * rate)


def test_daisy_counter_steps_by_two_and_fewer_names_fill_zeros(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="export.playback"):
        pf = write_playback(S007_R12, tmp_path / "d.csv", "cyton-daisy", CHANNELS,
                            duration_s=3.0)
    assert "inputs 9..16 are written as zeros" in caplog.text
    data = DataFilter.read_file(str(pf.path))
    assert data[0, :4].tolist() == [1, 3, 5, 7] and data[0, 128] == 1
    eeg = BoardShim.get_eeg_channels(2)
    assert np.any(data[eeg[:8]]) and not np.any(data[eeg[8:]])
    assert pf.channels == CHANNELS + [None] * 8


@pytest.mark.parametrize("channels, msg", [
    (None, "give the recording channel for each of the 8 EEG inputs"),
    (["C3", "XX9"], "XX9 not in the recording"),
    (CHANNELS + ["Pz"], "9 channels given but cyton .* 8 EEG inputs"),
    (["C3", "c3"], "named twice"),
])
def test_bad_channel_lists_are_refused(tmp_path, channels, msg):
    with pytest.raises(DataError, match=msg):
        write_playback(S007_R12, tmp_path / "x.csv", "cyton", channels)
    assert not (tmp_path / "x.csv").exists()


def test_speed_compresses_the_timestamps(tmp_path):
    pf = write_playback(S007_R12, tmp_path / "s.csv", "cyton", ["C3"], duration_s=1.0, speed=4,
                        start_time=100.0)
    ts = DataFilter.read_file(str(pf.path))[22]
    assert ts[0] == 100.0
    np.testing.assert_allclose(np.diff(ts), 1 / 1000, atol=2e-6)


def test_cli_subcommand(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="mi-export")
    sub = parser.add_subparsers(dest="command", required=True)
    p = add_subparser(sub)
    assert "examples:" in p.format_help()
    out = tmp_path / "cli.csv"
    args = parser.parse_args(["playback", str(S007_R12), "--board", "cyton", "--channels",
                              "C3", "Cz", "C4", "--duration", "2", "-o", str(out), "--json"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_samples"] == 500 and result["channels"][:3] == ["C3", "Cz", "C4"]
    assert out.exists() and (tmp_path / "cli.csv.json").exists()
