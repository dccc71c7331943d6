"""The FGSFT grid: band list, filter responses (synthetic signals: mechanics), time windows."""

from __future__ import annotations

import numpy as np
from scipy.signal import sosfreqz

from edge.filterbank import bandpass, bandpass_sos
from export.grid import fgsft_bands, time_windows


def test_paper_band_list():
    bands = fgsft_bands()
    narrow = [b for b in bands if b[1] - b[0] == 4]
    assert narrow[0] == (4.0, 8.0) and narrow[-1] == (30.0, 34.0) and len(narrow) == 14
    assert [b for b in bands if b[1] - b[0] == 32] == [(4.0, 36.0)]
    assert len(bands) == 26
    # 50 % overlap within each scale
    for bw in (4, 8, 16):
        starts = [b[0] for b in bands if b[1] - b[0] == bw]
        assert np.allclose(np.diff(starts), bw / 2)


def test_butterworth_band_pass_response():
    sos = bandpass_sos(8.0, 12.0, 160.0)
    assert sos.shape == (5, 6)  # 5th-order band-pass = 10 poles = 5 sections
    w, h = sosfreqz(sos, worN=[4.0, 10.0, 20.0], fs=160.0)
    gain = np.abs(h) ** 2  # forward-backward filtering squares the magnitude
    assert gain[1] > 0.95 and gain[0] < 1e-3 and gain[2] < 1e-3


def test_zero_phase_filtering_keeps_peaks_in_place():
    t = np.arange(0, 2, 1 / 160)
    x = np.sin(2 * np.pi * 10 * t)
    y = bandpass(x, 8, 12, 160)
    mid = slice(80, 240)
    lag = np.argmax(np.correlate(y[mid], x[mid], "full")) - (len(x[mid]) - 1)
    assert lag == 0


def test_time_windows_for_a_1_5_s_epoch():
    wins = time_windows(240, 160.0)
    lengths = [e - s for s, e in wins]
    counts = {n: lengths.count(n) for n in sorted(set(lengths))}
    assert counts == {32: 14, 64: 6, 112: 3, 160: 2, 200: 1, 240: 1}
    for n in counts:  # every scale ends exactly at the end of the epoch
        assert max(e for s, e in wins if e - s == n) == 240
        starts = sorted(s for s, e in wins if e - s == n)
        assert np.all(np.diff(starts) == round(n / 2))
    assert min(s for s, _ in wins) >= 0
