"""Self-paced control (issue 12): the rest class is never a command, a bundle without rest
behaves as before, the self-paced scores and the operating point, on small exact cases and on
real EEG (S007, a gated rest-aware FGSFT through the runtime loop)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from conftest import CYTON_CHANNELS, DATA, S007_R12, WINDOW, drain_pty

from edge.decision import DecisionConfig, DecisionLayer, DecisionOutput, DecisionState
from edge.operating import RunTrace, choose, decisions, sweep
from edge.scoring import score_selfpaced


def test_a_leading_rest_class_is_never_a_decision():
    layer = DecisionLayer(3, DecisionConfig(smoothing=1.0, threshold=0.5, dwell=1,
                                            refractory_s=0.0), rest_index=2)
    outs = [layer.update(np.array([0.02, 0.03, 0.95]), t * 0.125) for t in range(50)]
    assert all(o.state is DecisionState.NO_DECISION and o.reason == "rest" for o in outs)
    out = layer.update(np.array([0.9, 0.05, 0.05]), 10.0)
    assert out.state is DecisionState.DECISION and out.class_index == 0


def test_the_operating_sweep_decides_exactly_as_the_decision_layer():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet([0.6, 0.6, 0.6], size=400)
    t = np.arange(400) * 0.125
    for cfg in (DecisionConfig(0.5, 0.6, 2, 1.0), DecisionConfig(0.25, 0.45, 3, 2.0),
                DecisionConfig(1.0, 0.7, 1, 0.0)):
        for rest in (None, 2):
            layer = DecisionLayer(3, cfg, rest)
            want = [layer.update(p, ti).state is DecisionState.DECISION
                    for p, ti in zip(proba, t, strict=True)]
            got, _ = decisions(proba, t, cfg, rest)
            assert got.tolist() == want


def test_self_paced_scores_count_hits_wrong_misses_and_false_commands_per_rest_minute():
    cues = [(10.0, 15.0, 0), (30.0, 35.0, 1), (50.0, 55.0, 0)]
    t = np.array([5.0, 12.0, 13.0, 31.0, 40.0, 45.0])
    decided = np.ones(len(t), dtype=bool)
    cls = np.array([1, 0, 1, 0, 1, 0])
    s = score_selfpaced(t, decided, cls, cues, (0.0, 75.0))
    assert (s["hits"], s["wrong"], s["misses"]) == (1, 1, 1)
    assert s["false_commands"] == 3 and s["rest_min"] == pytest.approx(1.0)
    assert s["false_per_min_rest"] == pytest.approx(3.0)
    assert s["latency_s_median"] == pytest.approx(2.0)


def test_the_operating_point_meets_the_target_with_the_most_hits():
    t = np.arange(0, 60, 0.125)
    proba = np.tile([0.1, 0.1, 0.8], (len(t), 1))
    proba[(t > 10) & (t < 14)] = [0.9, 0.05, 0.05]  # a clear left command in the cue
    proba[(t > 40) & (t < 40.3)] = [0.75, 0.2, 0.05]  # a short false alarm in rest
    run = RunTrace(t, proba, [(10.0, 15.0, 0)], (0.0, 59.875))
    point = choose(sweep([run], rest_index=2), target_per_min=0.5)
    assert point["met"] and point["hit_rate"] == 1.0 and point["false_commands"] == 0


class _Frames:
    def __init__(self):
        self.master, self.slave = os.openpty()
        import tty

        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)


def test_the_serial_link_announces_only_commands_and_never_sends_rest_as_one():
    from edge.run_state import RunStateMachine, Session
    from edge.serial_sink import SerialSink
    from firmware_bridge import FrameDecoder

    pty = _Frames()
    try:
        sink = SerialSink(pty.port, heartbeat_ms=10_000)  # no link timeout mid-test
        run = RunStateMachine([sink])
        sink.start(Session(("left_hand", "right_hand"), 8.0, "rest"), run)
        run.link()
        rest = np.array([0.05, 0.05, 0.9])
        sink.emit(DecisionOutput(DecisionState.NO_DECISION, 2, 0.9, rest, "rest"), {})
        sink.emit(DecisionOutput(DecisionState.DECISION, 2, 0.9, rest), {})  # a bug upstream
        sink.emit(DecisionOutput(DecisionState.DECISION, 1, 0.8, np.array([.1, .8, .1])), {})
        wire = drain_pty(pty.master)
    finally:
        os.close(pty.master)
        os.close(pty.slave)
    frames = [f.message for f in FrameDecoder().feed(wire)]
    assert frames[0].n_classes == 2 and frames[0].class_names == ("left_hand", "right_hand")
    decisions_ = frames[1:]
    assert [(d.class_index, d.flags) for d in decisions_] == [(0, 1), (0, 1), (1, 0)]


def test_a_bundle_without_rest_is_schema_1_and_every_class_a_command(s007_fast_bundle):
    from edge.bundle import open_bundle

    bundle = open_bundle(s007_fast_bundle[0])
    assert bundle.manifest["schema_version"] == 1 and bundle.rest_class is None
    assert bundle.commands == bundle.classes


@pytest.fixture(scope="module")
def gated_bundle(tmp_path_factory):
    from export.data import RestWindows, load_epochs
    from export.fgsft import FGSFTConfig
    from export.train_gated import train_gated, write_gated

    runs = [DATA / f"S007_R{r:02d}_continuous.npz" for r in (4, 8)]
    ep = load_epochs(runs, window=WINDOW, channels=CYTON_CHANNELS, sfreq=250.0,
                     rest=RestWindows())
    clf = train_gated(ep, FGSFTConfig(grid="fast", jobs=1))
    return write_gated(tmp_path_factory.mktemp("gated") / "g.mibundle", "fgsft", clf, ep,
                       operating_point={"smoothing": 0.5, "threshold": 0.5, "dwell": 2,
                                        "refractory_s": 2.0})


def test_gated_rest_bundle_on_real_eeg_holds_during_rest_except_counted_commands(
        gated_bundle, tmp_path):
    from edge.bundle import open_bundle
    from edge.bundle_check import check_outputs
    from edge.decoders import decoder_spec, load_decoder
    from edge.jsonl_sink import JsonlSink
    from edge.replay import replay

    bundle = open_bundle(gated_bundle)
    assert bundle.rest_class == "rest" and bundle.manifest["schema_version"] == 2
    assert bundle.commands == ["left_hand", "right_hand"]
    check_outputs(bundle, load_decoder(bundle, "fgsft"))
    assert decoder_spec(bundle, "fgsft").operating_point["dwell"] == 2
    assert decoder_spec(bundle, "fgsft").params["gate"]["kind"] == "tangent_space_lr"
    log = tmp_path / "out.jsonl"
    r = replay(gated_bundle, [S007_R12], extra_sinks=[JsonlSink(log)])["fgsft"]
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert lines[0]["classes"] == ["left_hand", "right_hand"]
    assert lines[0]["rest_class"] == "rest"
    decided = [x for x in lines if x["type"] == "decision"]
    assert all(x["class"] != "rest" for x in decided)
    assert any(x["reason"] == "rest" for x in lines if x["type"] == "no_decision")
    # every command is accounted for: in a cue window (hit/wrong/extra) or a false one
    assert r["decisions"] >= r["hits"] + r["wrong"] + r["false_commands"]
    assert r["operating_curve"] and r["rest_min"] > 0.5
    print(f"S007 run 12 gated: hit {r['hit_rate']:.2f}, false/min {r['false_per_min_rest']:.2f}")


def test_cyton_playback_of_a_held_out_run_keeps_the_device_neutral_in_rest_but_for_counted(
        gated_bundle, tmp_path):
    """Real EEG through BrainFlow: S007 run 12 (held out) as a Cyton playback file, played by
    BrainFlow's playback board into ``mi-edge run`` at the bundle's operating point, over a pty
    to the device emulator. The device never hears of rest, and every output it takes is a
    command the runtime logged and the tally counts (in a cue window, or a false one)."""
    import signal
    import subprocess
    import sys

    from conftest import REPO

    from export.demo_live import device_tally
    from export.playback import write_playback

    playback = tmp_path / "r12_cyton.csv"
    # 96 s of run 12 (about 11 cues, 0.7 min of rest) at 4x: 24 s
    write_playback(S007_R12, playback, "cyton", CYTON_CHANNELS, duration_s=96.0, speed=4.0)
    device_log, host_log = tmp_path / "device.jsonl", tmp_path / "host.jsonl"
    emulator = subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge.cli", "emulate", "--json-log", str(device_log),
         "--heartbeat-timeout-ms", "1000", "--duration", "120", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        port = emulator.stdout.readline().strip()
        assert port.startswith("/dev/"), port
        run = subprocess.run(
            [sys.executable, "-m", "edge.cli", "run", str(gated_bundle), "--board", "playback",
             "--file", str(playback), "--master-board", "cyton", "--out", f"serial:{port}",
             "--out", f"jsonl:{host_log}"],
            capture_output=True, text=True, cwd=REPO, timeout=90)
        assert run.returncode == 0, run.stderr
        time.sleep(0.5)
    finally:
        emulator.send_signal(signal.SIGINT)
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    device = [json.loads(x) for x in device_log.read_text().splitlines() if x.endswith("}")]
    host = [json.loads(x) for x in host_log.read_text().splitlines() if x.strip()]
    frames = [r for r in device if r["event"] == "frame"]
    assert frames[0]["type"] == "HELLO" and frames[0]["class_names"] == ["left_hand",
                                                                         "right_hand"]
    assert all(f["class_index"] in (0, 1) for f in frames if f["type"] == "DECISION")
    assert not [r for r in device if r["event"] in ("gap", "reject")]
    outputs = [r["command"] for r in device if r["event"] == "command"]
    tally = device_tally(device, host, S007_R12, ["left_hand", "right_hand"])
    # the device's output leaves neutral only for a command the runtime sent and the tally
    # counts; each is followed by neutral again (the next HOLD)
    assert sum(c >= 0 for c in outputs) == tally["acted_on"] == tally["sent"] > 0
    assert tally["during_cues"] + tally["during_rest"] == tally["acted_on"]
    assert tally["rest_min"] > 0.5 and tally["hits"] > 0
    # the binary decoders made ~50 false commands per minute of rest on this run (issue 12)
    assert tally["false_per_min_rest"] < 15
    print(f"S007 run 12 via BrainFlow, gated: {tally}")


def test_the_edge_tangent_space_is_pyriemanns():
    """The gate's covariance -> tangent vector map in numpy equals pyriemann's (the exporter's
    reference is pyriemann's Riemannian mean), so the edge computes what was trained."""
    from pyriemann.geometry.mean import mean_riemann
    from pyriemann.tangentspace import TangentSpace

    from edge.decoders.tangent import covariances, inv_sqrt, tangent_vectors

    X = np.random.default_rng(0).standard_normal((12, 8, 500)) * 20.0
    C = covariances(X)
    ref = mean_riemann(C)
    ours = tangent_vectors(C, inv_sqrt(ref))
    np.testing.assert_allclose(ours, TangentSpace(metric="riemann").fit(C).transform(C),
                               atol=1e-10)
    assert np.all(np.isfinite(tangent_vectors(covariances(np.zeros((1, 8, 500))),
                                              inv_sqrt(ref))))
