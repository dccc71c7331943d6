"""Issue 15: the cached filter bank, the compiled FGSFT decode and the causal streaming FGSFT.

* :class:`edge.filterbank.BandFilter` is ``scipy.signal.sosfiltfilt`` bit for bit (through the
  compiled kernel and through its public-API fallback);
* the FGSFT plan gives the reference decision values (per-segment covariances) on real windows
  to 1e-9, for old bundles too;
* a causal model decodes a stream, pushed in chunks of any size, as causal filtering of the whole
  signal does (1e-9), and its bundle reproduces the exporter's probabilities.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO, S007, S007_R12
from scipy import signal

from edge import filter_kernel
from edge.bundle import open_bundle
from edge.decoders import load_decoder
from edge.filterbank import band_filter, bandpass_sos, sosfilt_zi
from export.data import load_epochs
from export.fgsft import FGSFTConfig
from export.train_fgsft import train_fgsft, write_fgsft

V0 = REPO / "tests" / "fixtures" / "demo_v0_S007_cyton.mibundle"
V0_WINDOWS = REPO / "tests" / "fixtures" / "demo_v0_S007_cyton_r12.npz"


@pytest.mark.parametrize("compiled", [True, False])
def test_band_filter_is_sosfiltfilt_bit_for_bit(monkeypatch, compiled):
    monkeypatch.setattr(filter_kernel, "_KERNEL", filter_kernel.load_kernel(compiled))
    rng = np.random.default_rng(0)
    for low, high, sfreq in [(4, 8, 250.0), (8, 16, 160.0), (0.5, 40, 160.0), (20, 52, 160.0)]:
        sos, filt = bandpass_sos(low, high, sfreq), band_filter(low, high, sfreq)
        assert np.array_equal(sosfilt_zi(sos), signal.sosfilt_zi(sos))
        x = rng.standard_normal((3, 8, 500)) * 20
        ref = signal.sosfiltfilt(sos, x, axis=-1)
        for start in (0, 37, 499):
            assert np.array_equal(filt.zero_phase(x, start), ref[..., start:])
        zi = signal.sosfilt_zi(sos)[:, None, :] * x[0][:, :1][None]
        whole, _ = signal.sosfilt(sos, x[0], axis=-1, zi=zi)
        a, state = filt.causal(x[0][:, :200])
        b, _ = filt.causal(x[0][:, 200:], state)
        assert np.array_equal(np.hstack([a, b]), whole)


def test_kernel_falls_back_to_the_public_api(monkeypatch):
    def moved():
        raise ImportError("scipy.signal._sosfilt moved")

    monkeypatch.setattr(filter_kernel, "_compiled", moved)
    assert filter_kernel.load_kernel() is filter_kernel.public_kernel


def test_runtime_kernel_does_not_import_scipy_signal():
    import subprocess
    import sys

    code = ("import sys; from edge.filter_kernel import load_kernel; k = load_kernel(); "
            "assert k.__name__ == '_sosfilt', k; assert 'scipy.signal' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith('scipy'))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_fast_decode_equals_the_reference_on_real_windows():
    dec = load_decoder(open_bundle(V0), "fgsft")
    X = np.load(V0_WINDOWS)["X"].astype(np.float64)
    model = dec.model
    reference = model.decision_functions(model.segment_features(X))
    fast = model.fast_plan().decision_values(X)
    print(f"max |decision value difference| {np.max(np.abs(fast - reference)):.2e}")
    assert np.max(np.abs(fast - reference)) <= 1e-9


@pytest.fixture(scope="module")
def causal_bundle(tmp_path_factory):
    ep = load_epochs([S007], window=(-0.5, 2.5), runs=[4, 8])
    clf = train_fgsft(ep, FGSFTConfig(grid="fast", causal=True, lead=1.0))
    path = write_fgsft(tmp_path_factory.mktemp("causal") / "c.mibundle", "fgsft", clf, ep)
    return path, clf


def test_causal_bundle_reproduces_training_probabilities(causal_bundle):
    path, clf = causal_bundle
    test = load_epochs([S007], window=(-0.5, 2.5), runs=[12])
    expected = clf.predict_proba(test.X)
    model = load_decoder(open_bundle(path), "fgsft").model
    assert model.causal and model.sos is not None
    assert np.max(np.abs(model.predict_proba(test.X) - expected)) <= 1e-9
    ref = model.proba_from_decisions(model.decision_functions(model.segment_features(test.X)))
    assert np.max(np.abs(ref - expected)) <= 1e-9
    assert np.mean(expected.argmax(1) == test.y) >= 0.8
    window = open_bundle(path).decoder_spec("fgsft")["window"]
    assert window["tmin"] == 0.5 and window["n_samples"] == 320, window


def test_stream_equals_causal_filtering_of_the_whole_signal(causal_bundle):
    path, _ = causal_bundle
    dec = load_decoder(open_bundle(path), "fgsft")
    assert dec.warmup_samples == 160
    raw = np.load(S007_R12)["raw"].astype(np.float64)[:, :3000]
    stream, rng, pos, checked = dec.open_stream(), np.random.default_rng(1), 0, 0
    while pos < raw.shape[1]:
        k = int(rng.integers(1, 400))
        stream.push(raw[:, pos:pos + k])
        pos = min(pos + k, raw.shape[1])
        if pos >= dec.n_samples:
            whole = dec.model.fast_plan().decision_values(raw[None, :, :pos])[0]
            assert np.max(np.abs(stream.decision_values() - whole)) <= 1e-9
            checked += 1
    stream.reset()
    stream.push(raw[:, 1000:1400])
    whole = dec.model.fast_plan().decision_values(raw[None, :, 1000:1400])[0]
    assert np.max(np.abs(stream.decision_values() - whole)) <= 1e-9
    assert checked > 5


def test_net_preprocessing_is_bit_identical_and_round_trips():
    import json

    from edge.preprocessing import Preprocessing

    prep = Preprocessing(0.5, 40.0, 250.0, 12.3)
    again = Preprocessing.from_dict(json.loads(json.dumps(prep.to_dict())))
    x = np.random.default_rng(2).standard_normal((2, 8, 500)) * 30
    z = signal.sosfiltfilt(bandpass_sos(0.5, 40.0, 250.0), x, axis=-1)
    expected = ((z - z.mean(axis=-1, keepdims=True)) / 12.3).astype(np.float32)
    assert np.array_equal(prep(x), expected) and np.array_equal(again(x), expected)
    assert np.array_equal(np.array(again.sos), bandpass_sos(0.5, 40.0, 250.0))


def test_runtime_streams_a_causal_decoder(causal_bundle):
    """The loop feeds every chunk to the stream and decides from it: each hop's probabilities
    are the batch decode of everything read so far (causal filtering of the whole signal); the
    first decision waits for a window plus the training warm-up."""
    from edge.loop import LoopConfig, Runtime
    from edge.recording import load_continuous
    from edge.replay import RecordingSource
    from edge.sinks import NullSink

    class Probas(NullSink):
        def __init__(self):
            self.rows = []

        def emit(self, out, info):
            self.rows.append((info["t"], self.runtime.stream.predict_proba(),
                              np.array(info["raw_proba"])))

    path, _ = causal_bundle
    bundle = open_bundle(path)
    dec = load_decoder(bundle, "fgsft")
    rec = load_continuous(S007_R12)
    rec.raw = rec.raw[:, :2000]
    source = RecordingSource(rec, bundle.channels, bundle.sfreq, 7)
    sink = Probas()
    rt = Runtime(dec, bundle.channels, bundle.sfreq, source, [sink],
                 LoopConfig(realtime=False, poll_s=0.0))
    sink.runtime = rt
    rt.run()
    assert rt.stream is not None and len(sink.rows) > 50
    first_t = sink.rows[0][0]
    assert first_t * bundle.sfreq >= dec.n_samples + dec.warmup_samples
    for t, proba, decided_on in sink.rows[:: 10]:
        n = int(round(t * bundle.sfreq))
        whole = dec.model.predict_proba(source.data[None, :, :n])[0]
        assert np.max(np.abs(proba - whole)) <= 1e-9
        assert np.max(np.abs(decided_on - whole)) <= 5e-5  # the loop reports 4 decimals
