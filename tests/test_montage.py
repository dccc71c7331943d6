"""Montage: electrode names on board inputs, defaults per board, clear errors."""

from __future__ import annotations

import pytest

from edge.errors import InputError
from edge.montage import (
    CYTON_DAISY_MONTAGE,
    CYTON_MONTAGE,
    Montage,
    MontageError,
    default_montage,
    parse_montage,
)


def test_openbci_gui_defaults():
    assert default_montage(0).names == ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")
    daisy = default_montage(2).names
    assert daisy[:8] == CYTON_MONTAGE
    assert daisy[8:] == ("F7", "F8", "F3", "F4", "T7", "T8", "P3", "P4")
    assert daisy == CYTON_DAISY_MONTAGE


def test_default_falls_back_to_brainflow_names_then_refuses():
    m = default_montage(-1, ["Fz", "C3", "Cz"], "synthetic (-1)")
    assert m.names == ("Fz", "C3", "Cz")
    assert "BrainFlow" in m.source
    with pytest.raises(MontageError, match="ganglion .*no default.*--montage"):
        default_montage(1, None, "ganglion (1)")


def test_parse_commas_spaces_and_unused_inputs():
    assert parse_montage("C3,Cz,C4").names == ("C3", "Cz", "C4")
    assert parse_montage("C3 Cz  C4").names == ("C3", "Cz", "C4")
    assert parse_montage("C3,-,C4,,none,Pz").names == ("C3", None, "C4", None, None, "Pz")
    assert parse_montage(["C3", None, "C4", "-", "-"]).names == ("C3", None, "C4")


@pytest.mark.parametrize("spec, msg", [
    ("C3,Cz,c3", "C3.*twice|c3.*twice"),
    ("-,-", "no electrode"),
    ("", "no electrode"),
])
def test_parse_refuses_bad_montages(spec, msg):
    with pytest.raises(MontageError, match=msg):
        parse_montage(spec)


def test_indices_follow_the_bundle_order_case_insensitively():
    m = parse_montage("Fp1,Fp2,C3,C4,P7,P8,O1,O2")
    assert m.indices(["C4", "c3", "O1"]) == [3, 2, 6]


def test_missing_channels_are_all_named():
    m = Montage(CYTON_MONTAGE, "cyton default (OpenBCI GUI)")
    with pytest.raises(MontageError) as ei:
        m.indices(["C3", "Cz", "C4", "CP3"])
    text = str(ei.value)
    assert "Cz, CP3" in text
    assert "cyton default" in text and "Fp1, Fp2, C3" in text
    assert "--montage" in text
    assert isinstance(ei.value, InputError) and ei.value.exit_code == 4


def test_more_names_than_inputs_is_refused():
    m = parse_montage("C3,Cz,C4,Pz,Fz")
    m.check_inputs(5, "board")
    with pytest.raises(MontageError, match="5 inputs but ganglion has 4 EEG inputs"):
        m.check_inputs(4, "ganglion")
