"""Signal check on real EEG with injected faults: each fault is flagged on exactly its channel,
the clean recording passes, and the runtime sends no decision from a line-noise window."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, S007_R12
from scipy.signal import butter, sosfilt

from edge.bundle import open_bundle
from edge.decision import DecisionConfig
from edge.decoders import load_decoder
from edge.loop import LoopConfig, Runtime
from edge.quality import QualityConfig, check_window, line_noise_uv
from edge.recording import load_continuous
from edge.replay import RecordingSource
from edge.run_state import RunState
from edge.signal_check import check_signal
from edge.sinks import NullSink

CYTON = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]
OLD_BUNDLE = REPO / "tests" / "fixtures" / "fgsft_v0_S007.mibundle"


@pytest.fixture(scope="module")
def s007():
    rec = load_continuous(S007_R12)
    return rec, rec.pick(CYTON)[:, 1600:1600 + 8 * 160].copy()  # 8 s of the 8 Cyton channels


def _hum(n, sfreq, amp_uv, f0=50.0):
    return amp_uv * np.sin(2 * np.pi * f0 * np.arange(n) / sfreq)


def test_clean_real_eeg_passes(s007):
    rec, x = s007
    report = check_signal(x, rec.sfreq, CYTON)
    assert all(c.ok for c in report), [(c.name, c.problems) for c in report]
    # the recording's own 60 Hz (29-34 µV RMS on every channel) is reported, not flagged
    assert all(c.line_hz == 60.0 and 20 < c.line_uv < 40 for c in report)


@pytest.mark.parametrize("fault", ["hum100", "hum300", "railed", "flat", "nan", "noisy"])
def test_each_injected_fault_is_flagged_on_exactly_its_channel(s007, fault):
    rec, x = s007
    x = x.copy()
    c4 = CYTON.index("C4")
    if fault.startswith("hum"):
        x[c4] += _hum(x.shape[1], rec.sfreq, float(fault[3:]))
    elif fault == "railed":
        x[c4, 300:340] = 187_000.0
    elif fault == "flat":
        x[c4] = 1234.5
    elif fault == "nan":
        x[c4, 500] = np.nan
    else:  # a loose electrode: 300 µV RMS of 8-30 Hz noise
        sos = butter(4, (8, 30), btype="bandpass", fs=rec.sfreq, output="sos")
        noise = sosfilt(sos, np.random.default_rng(0).standard_normal(x.shape[1]))
        x[c4] += 300 * noise / noise.std()
    report = check_signal(x, rec.sfreq, CYTON)
    assert [c.name for c in report if not c.ok] == ["C4"]
    word = {"hum100": "line noise", "hum300": "line noise"}.get(fault, fault)
    assert word in " ".join(report[c4].problems).lower()


@pytest.mark.parametrize("amp", [100.0, 300.0])
def test_every_runtime_window_with_50hz_is_bad_and_the_clean_ones_pass(s007, amp):
    rec, x = s007
    cfg = QualityConfig(sfreq=rec.sfreq)
    for n in (80, 160, 320):  # 0.5, 1 and 2 s windows
        for a in range(0, x.shape[1] - n, n // 2):
            w = x[:, a:a + n]
            assert check_window(w, cfg, CYTON) is None
            hum = w.copy()
            hum[2] += _hum(n, rec.sfreq, amp)[::-1]  # any phase
            reason = check_window(hum, cfg, CYTON)
            assert reason is not None and reason.startswith("line noise: C4 "), reason
    rms, freq = line_noise_uv(x + _hum(x.shape[1], rec.sfreq, amp), rec.sfreq)
    assert np.all(freq == 50.0) and np.allclose(rms, amp / np.sqrt(2), rtol=0.1)


class _Collect(NullSink):
    def __init__(self):
        self.decisions: list[float] = []
        self.faults: list[tuple[float, str]] = []

    def emit(self, out, info):
        if out.state.value == "DECISION":
            self.decisions.append(float(info["t"]))

    def on_transition(self, change):
        if change.new is RunState.FAULT:
            self.faults.append((change.t, change.fault.reason.name))


def test_no_decision_is_sent_from_a_line_noise_window():
    bundle = open_bundle(OLD_BUNDLE)
    dec = load_decoder(bundle, "fgsft")
    rec = load_continuous(S007_R12)
    rec.raw = rec.raw[:, :40 * 160].copy()  # the first 40 s of run 12
    c4 = rec.ch_names.index("C4")
    hums = {100.0: (10.0, 18.0), 300.0: (26.0, 34.0)}  # µV: s, mains hum on C4
    for amp, (t0, t1) in hums.items():
        a, b = int(t0 * 160), int(t1 * 160)
        rec.raw[c4, a:b] += _hum(b - a, rec.sfreq, amp)
    sink = _Collect()
    config = LoopConfig(realtime=False, poll_s=0.0,
                        decision=DecisionConfig(threshold=0.6, dwell=1, refractory_s=0.0))
    Runtime(dec, bundle.channels, bundle.sfreq,
            RecordingSource(rec, bundle.channels, bundle.sfreq, 20), [sink], config).run()
    win = dec.n_samples / bundle.sfreq
    # found once the hum fills a quarter of a second of the window (edge.quality.line_noise_uv)
    late = 0.25
    for t0, t1 in hums.values():
        first = min(t for t, reason in sink.faults if t > t0)
        assert first <= t0 + late + 0.125
        assert not [t for t in sink.decisions if t - win < t1 - late and t > t0 + late]
    # (the end of the recording is a BOARD_LOST at 40 s)
    assert {reason for t, reason in sink.faults if t < 39.9} == {"BAD_SIGNAL"}
    assert any(t < 10.0 for t in sink.decisions) and any(18.0 + win < t < 26 for t in
                                                          sink.decisions)


def test_cli_signal_check_on_the_synthetic_board(capsys):
    from edge.cli import main

    # BrainFlow's synthetic board puts a 50 Hz sine on input 10 (F7) and 60 Hz on input 12 (F1)
    assert main(["signal-check", "--board", "synthetic", "--duration", "1.5", "--json"]) == 4
    out = json.loads(capsys.readouterr().out)
    assert out["bad"] == ["F7", "F1"] and not out["ok"]
    assert main(["signal-check", "--board", "synthetic", "--duration", "1.5",
                 "--montage", "Fz,C3,Cz,C4,-,-,-,-,-,-,-,-,-,-,-,-"]) == 0
    assert "4/4 channels good" in capsys.readouterr().out


def test_detrend_linear_is_scipy_detrend():
    """The runtime's quality check removes each row's least-squares line as
    ``scipy.signal.detrend`` does, without importing ``scipy.signal``."""
    from scipy.signal import detrend

    from edge.quality import detrend_linear

    rng = np.random.default_rng(0)
    t = np.arange(125)
    x = rng.normal(size=(8, 125)) * 20 + 3.0 * t - 400.0  # a drift and an offset
    assert np.allclose(detrend_linear(x), detrend(x, axis=-1), rtol=0, atol=1e-9)
    assert np.allclose(detrend_linear(x[:, :2]), detrend(x[:, :2], axis=-1), atol=1e-9)
    assert np.allclose(detrend_linear(x[0]), detrend(x[0]), atol=1e-9)
