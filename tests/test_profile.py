"""mi-edge profile on real EEG: BrainFlow's playback board replays S007 run 12 (Cyton montage),
the real loop decodes it with stage probes, decisions go over a real pty write; and the probes
change nothing the loop decides."""

from __future__ import annotations

import json
import signal

import numpy as np
from conftest import CYTON_CHANNELS, S007_R12

from edge.bundle import open_bundle
from edge.decision import DecisionConfig
from edge.decoders import load_decoder
from edge.loop import LoopConfig, Runtime
from edge.profiling import Probes, machine_info, percentiles
from edge.recording import load_continuous
from edge.replay import RecordingSource
from edge.run_state import RunState
from edge.sinks import NullSink
from export.playback import write_playback

STAGES = ("read", "read_call", "preprocess", "decode:fgsft", "decision", "serial_write", "e2e")


def test_profile_playback_writes_json_table_and_plots(s007_cyton_bundle, tmp_path):
    from edge.cli import main

    playback = tmp_path / "r12.csv"
    # 24 s of run 12 at 4x real time: ~6 s of wall time, ~4.5 s of it decoding
    write_playback(S007_R12, playback, "cyton", CYTON_CHANNELS, duration_s=24.0, speed=4.0)
    out = tmp_path / "prof"
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    try:
        rc = main(["profile", str(s007_cyton_bundle), "--board", "playback", "--file",
                   str(playback), "--duration", "30", "--hop", "0.125", "-o", str(out)])
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    assert rc == 0
    report = json.loads((out / "profile.json").read_text())
    stages = report["stages"]
    for name in STAGES:
        s = stages[name]
        assert s["n"] > 10, name
        assert all(s[k] is not None and s[k] >= 0 for k in ("p50_ms", "p95_ms", "p99_ms",
                                                              "max_ms")), name
        assert s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"], name
    # the end-to-end time contains its parts
    assert stages["e2e"]["p50_ms"] >= stages["serial_write"]["p50_ms"]
    assert stages["e2e"]["p50_ms"] >= stages["decode:fgsft"]["p50_ms"]
    assert stages["e2e"]["p50_ms"] >= stages["read"]["p50_ms"]
    hops = np.genfromtxt(out / "hops.csv", delimiter=",", names=True)
    e2e, read = hops["e2e_ms"], hops["read_ms"]
    ok = np.isfinite(e2e)
    assert ok.mean() > 0.9
    assert np.all(e2e[ok] >= read[ok])
    assert np.all(e2e[ok] >= hops["decodefgsft_ms"][ok])
    # BrainFlow's playback board stamps samples with the wall clock: delivery is ms, not hours
    assert stages["read"]["max_ms"] < 1000
    split = report["e2e_split"]
    assert 0 < split["delivery_share_of_mean"] < 1
    run = report["run"]
    assert run["hops"] >= 20 and run["hops_per_s"] > 0 and run["decisions_per_s"] >= 0
    assert 0 < run["cpu_share_of_one_core"] and run["peak_rss_mib"] > 10
    assert run["serial_dropped"] == 0 and run["faults"] <= 1  # the file ends: one BOARD_LOST
    assert report["machine"]["cpu_model"] and report["machine"]["cores"] >= 1
    po = report["probe_overhead"]
    assert 0 < po["per_hop_us"] < 200 and po["share_of_processing_p50"] < 0.05
    assert set(report["files"]) >= {"profile.json", "profile.md", "hops.csv",
                                    "latency_histograms.png", "latency_over_time.png"}
    for f in report["files"]:
        assert (out / f).stat().st_size > 100, f
    md = (out / "profile.md").read_text()
    assert "| e2e |" in md and "p99" in md and "Probe cost" in md


class _Collect(NullSink):
    def __init__(self):
        self.out = []

    def emit(self, out, info):
        self.out.append((info["t"], out.state.value, out.class_index, info["raw_proba"]))

    def on_transition(self, change):
        if change.new is RunState.FAULT:
            self.out.append((change.t, "FAULT", change.fault.reason.name, None))


class _LongerWindow:
    """A second decoder with a longer window than the primary (its own window from the ring)."""

    def __init__(self, dec, n_samples):
        self.dec, self.name, self.kind = dec, "longer", dec.kind
        self.n_channels, self.n_samples = dec.n_channels, n_samples
        self.windows = 0

    def predict_proba(self, X):
        assert X.shape == (1, self.n_channels, self.n_samples)
        self.windows += 1
        return self.dec.predict_proba(X[..., -self.dec.n_samples:])


def test_probes_and_compared_decoders_change_no_decision(s007_cyton_bundle):
    bundle = open_bundle(s007_cyton_bundle)
    rec = load_continuous(S007_R12)
    rec.raw = rec.raw[:, : int(40 * rec.sfreq)]  # 40 s: a few cues, a fast test
    config = LoopConfig(realtime=False, poll_s=0.0,
                        decision=DecisionConfig(threshold=0.6, dwell=1, refractory_s=0.0))
    runs = {}
    for probed in (False, True):
        dec = load_decoder(bundle, "fgsft")
        other = _LongerWindow(load_decoder(bundle, "fgsft"), dec.n_samples + 100)
        probes = Probes("fgsft", [other], capacity=16) if probed else None
        sink = _Collect()
        src = RecordingSource(rec, bundle.channels, bundle.sfreq, 10)
        stats = Runtime(dec, bundle.channels, bundle.sfreq, src, [sink], config,
                        observers=[probes] if probes else None).run()
        runs[probed] = (sink.out, stats, probes, other)
    (plain, s0, _, _), (probed, s1, probes, other) = runs[False], runs[True]
    assert plain == probed
    assert (s0.hops, s0.decisions, s0.faults) == (s1.hops, s1.decisions, s1.faults)
    assert probes.n == s1.hops  # the table grew from 16 rows without losing any
    # a replay's timestamps are not Unix time: no read/e2e, everything else timed
    assert np.isnan(probes.column("read")).all() and probes.non_unix_timestamps == probes.n
    assert np.isfinite(probes.column("preprocess")).all()
    longer = probes.column("decode:longer")
    # the compared decoder waits until its longer window is buffered, then runs every hop
    assert np.isnan(longer[:3]).all() and np.isfinite(longer[-10:]).all()
    assert other.windows == int(np.isfinite(longer).sum())


def test_percentiles_and_machine_info():
    p = percentiles(np.array([np.nan, 0.001, 0.002, 0.003, 0.004]))
    assert p["n"] == 4 and p["max_ms"] == 4.0 and 2.0 <= p["p50_ms"] <= 3.0
    assert percentiles(np.array([np.nan]))["p50_ms"] is None
    m = machine_info()
    assert m["cores"] >= 1 and m["cpu_model"]
    assert isinstance(Probes("x").self_cost(n=200)["per_hop_us"], float)
