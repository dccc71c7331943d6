"""The ``riemann`` decoder on real EEG: exported-vs-training parity, the features against
pyriemann and scikit-learn, held-out accuracy, pooling, online adaptation in the runtime loop,
the command line and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import S002, S007, S007_R12, WINDOW

from edge.bundle import open_bundle
from edge.decoders import load_decoder
from edge.errors import InputError
from export.data import load_epochs
from export.riemann import RiemannClassifier, write_riemann

BANK = ((8.0, 12.0), (12.0, 16.0), (16.0, 24.0), (24.0, 30.0))


@pytest.fixture(scope="module")
def s007():
    return load_epochs([S007], window=WINDOW)


@pytest.fixture(scope="module")
def s007_bundle(s007, tmp_path_factory):
    train = s007.subset(np.isin(s007.runs, [4, 8]))
    clf = RiemannClassifier(train.sfreq, bands=BANK).fit(train.X, train.y)
    path = write_riemann(tmp_path_factory.mktemp("riemann") / "b.mibundle", "riemann", clf,
                         train, adapt_horizon_s=30.0)
    return path, clf, s007.subset(s007.runs == 12)


def test_bundle_reproduces_training_probabilities(s007_bundle):
    path, clf, test = s007_bundle
    dec = load_decoder(open_bundle(path), "riemann")
    expected = clf.predict_proba(test.X)
    batch = dec.predict_proba(test.X)
    single = np.concatenate([dec.predict_proba(x[None]) for x in test.X])
    assert np.max(np.abs(batch - expected)) <= 1e-9
    assert np.max(np.abs(single - expected)) <= 1e-9
    assert dec.classes_ == ["left_hand", "right_hand"] and dec.adapt_horizon_s == 30.0
    assert 0.05 < expected[:, 1].mean() < 0.95  # a real two-class output, not a constant


def test_features_and_probabilities_match_pyriemann_and_sklearn():
    """Our tangent vectors at the re-centered reference are pyriemann's, our regression is
    scikit-learn's: an independent computation of the same probabilities."""
    from pyriemann.tangentspace import TangentSpace
    from sklearn.linear_model import LogisticRegression

    from edge.alignment import recenter

    ep = load_epochs([S002], window=WINDOW)
    train, test = ep.subset(ep.runs != 12), ep.subset(ep.runs == 12)
    clf = RiemannClassifier(ep.sfreq).fit(train.X, train.y)
    model = clf.model_
    covs = model.band_covariances(test.X)[0]
    ref = np.linalg.inv(model.ref_isqrt[0] @ model.ref_isqrt[0])
    ts = TangentSpace(metric="riemann").fit(ref[None])
    ts.reference_ = ref
    theirs = ts.transform(recenter(covs, model.whiteners[0]))
    ours = model.features(model.band_covariances(test.X))
    assert np.max(np.abs(ours - theirs)) <= 1e-9 * max(1.0, np.abs(theirs).max())
    lr = LogisticRegression()
    lr.classes_, lr.coef_, lr.intercept_ = np.array([0, 1]), model.coef, model.intercept
    assert np.max(np.abs(lr.predict_proba(theirs) - clf.predict_proba(test.X))) <= 1e-9


def test_leave_one_run_out_accuracy_on_a_separable_subject(s007):
    accs = []
    for held in (4, 8, 12):
        train, test = s007.subset(s007.runs != held), s007.subset(s007.runs == held)
        clf = RiemannClassifier(s007.sfreq).fit(train.X, train.y)
        accs.append(float(np.mean(clf.predict(test.X) == test.y)))
    assert np.mean(accs) >= 0.8, accs  # measured 0.733, 0.933, 1.000; chance 0.5
    assert min(accs) >= 0.65, accs


def test_pool_of_another_subject_and_pool_only(s007):
    s002 = load_epochs([S002], window=WINDOW)
    train, test = s007.subset(s007.runs != 12), s007.subset(s007.runs == 12)
    pooled = RiemannClassifier(s007.sfreq, pool=[(s002.X, s002.y)]).fit(train.X, train.y)
    assert pooled.n_train_ == {"target": 30, "pool": 45, "pool_domains": 1}
    assert np.mean(pooled.predict(test.X) == test.y) >= 0.8
    # the pool's re-centered covariances are remembered by content: a refit is the same model
    again = RiemannClassifier(s007.sfreq, pool=[(s002.X.copy(), s002.y)]).fit(train.X, train.y)
    np.testing.assert_array_equal(again.model_.coef, pooled.model_.coef)
    alone = RiemannClassifier(s007.sfreq, pool=[(s002.X, s002.y)]).fit(train.X[:0], train.y[:0])
    # no calibration: the whitener is the pool's reference, not the target's
    from edge.alignment import reference_mean, whitener

    cov = alone.model_.band_covariances(s002.X)[0]
    np.testing.assert_allclose(alone.model_.whiteners[0], whitener(reference_mean(cov)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="same channels"):
        RiemannClassifier(s007.sfreq, pool=[(s002.X[:, :8], s002.y)]).fit(train.X, train.y)
    with pytest.raises(ValueError, match="no training trials"):
        RiemannClassifier(s007.sfreq).fit(train.X[:0], train.y[:0])


def test_bad_input_is_refused(s007_bundle):
    path, clf, test = s007_bundle
    dec = load_decoder(open_bundle(path), "riemann")
    with pytest.raises(InputError, match="window"):
        dec.predict_proba(test.X[0])
    with pytest.raises(InputError, match="64 channels"):
        dec.predict_proba(test.X[:, :8])
    bad = test.X[:2].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        dec.predict_proba(bad)
    with pytest.raises(ValueError, match="trials of shape"):
        RiemannClassifier(160.0).fit(test.X[0], test.y[:1])
    with pytest.raises(ValueError, match="low < high"):
        RiemannClassifier(160.0, bands=((30.0, 8.0),)).fit(test.X, test.y)
    with pytest.raises(ValueError, match="shrinkage"):
        RiemannClassifier(160.0, shrinkage="pca").fit(test.X, test.y)


def test_runtime_adapts_and_resets_on_gaps(s007_bundle):
    """Replay through the runtime loop: with adaptation every healthy window is folded into the
    reference; a gap resets it; --no-adapt leaves the decoder a pure function of the window."""
    from edge.loop import LoopConfig, Runtime
    from edge.recording import load_continuous
    from edge.replay import RecordingSource

    path, _, _ = s007_bundle
    bundle = open_bundle(path)
    rec = load_continuous(S007_R12)
    runs = {}
    for label, horizon in (("bundle default", None), ("off", 0.0)):
        dec = load_decoder(bundle, "riemann")
        source = RecordingSource(rec, bundle.channels, bundle.sfreq, 20)
        cfg = LoopConfig(poll_s=0.0, realtime=False, adapt_horizon_s=horizon)
        rt = Runtime(dec, bundle.channels, bundle.sfreq, source, [], cfg)
        stats = rt.run(duration_s=16.0)
        runs[label] = (dec, rt, stats)
    dec, rt, stats = runs["bundle default"]
    assert dec.adaptation is not None and stats.faults == 0
    assert dec.adaptation[0].n == stats.hops and dec.adaptation[0].ready
    assert dec.adaptation[0].horizon_windows == pytest.approx(30.0 / 0.125)
    rt._gap("test: 3 samples lost")
    assert all(ref.n == 0 for ref in dec.adaptation)
    dec.adaptation[0].update(np.eye(64))
    rt._gap("test: hops skipped", adaptation=False)  # no data missing: the reference stays
    assert dec.adaptation[0].n == 1
    assert runs["off"][0].adaptation is None


def test_export_command_check_and_replay(tmp_path, capsys):
    from edge.cli import main as edge_main
    from export.cli import main as export_main

    out = tmp_path / "cli.mibundle"
    assert export_main(["riemann", str(S007), "--runs", "4", "8", "--bands", "8", "13", "13",
                        "30", "--shrinkage", "lw", "--adapt-horizon", "20", "--json", "-q",
                        "-o", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["bands_hz"] == [[8.0, 13.0], [13.0, 30.0]]
    assert result["n_train"]["target"] == 30
    spec = open_bundle(out).decoder_spec("riemann")
    assert spec["kind"] == "riemann" and spec["params"]["shrinkage"] == "lw"
    assert spec["params"]["adapt_horizon_s"] == 20.0
    assert edge_main(["check", str(out)]) == 0
    assert "OK" in capsys.readouterr().out
    assert export_main(["riemann", str(S007), "--bands", "8", "13", "30", "-q",
                        "-o", str(tmp_path / "bad.mibundle")]) != 0
    assert "LOW HIGH pairs" in capsys.readouterr().err


def test_export_with_a_pool_and_per_run_recentering(tmp_path, capsys):
    from export.cli import main as export_main

    out = tmp_path / "pool.mibundle"
    assert export_main(["riemann", str(S007), "--runs", "4", "8", "--pool", str(S002),
                        "--recenter-by", "run", "--json", "-q", "-o", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # S002's three runs are three re-centered domains
    assert result["n_train"] == {"target": 30, "pool": 45, "pool_domains": 3}
    assert len(result["pool_subjects"]) == 1
    spec = open_bundle(out).decoder_spec("riemann")
    assert spec["params"]["pool_subjects"] == result["pool_subjects"]
    assert export_main(["riemann", str(S007), "--pool", str(S007), "-q",
                        "-o", str(tmp_path / "self.mibundle")]) != 0
    assert "is the target" in capsys.readouterr().err


def test_per_run_recentering_changes_training_not_the_stored_whitener(s007):
    train = s007.subset(s007.runs != 12)
    one = RiemannClassifier(s007.sfreq).fit(train.X, train.y)
    per_run = RiemannClassifier(s007.sfreq).fit(train.X, train.y, groups=train.runs)
    np.testing.assert_allclose(per_run.model_.whiteners, one.model_.whiteners)
    assert np.max(np.abs(per_run.model_.coef - one.model_.coef)) > 1e-6
    with pytest.raises(ValueError, match="groups"):
        RiemannClassifier(s007.sfreq).fit(train.X, train.y, groups=train.runs[:3])


def _nan_coef(a, m):
    a["coef"] = a["coef"] * np.nan


def _small_whiteners(a, m):
    a["whiteners"] = a["whiteners"][:, :8, :8]


def _negative_horizon(a, m):
    m["decoders"]["riemann"]["params"]["adapt_horizon_s"] = -1


@pytest.mark.parametrize("edit, message", [(_nan_coef, "non-finite"),
                                           (_small_whiteners, "do not fit"),
                                           (_negative_horizon, "adapt_horizon_s")])
def test_check_refuses_a_broken_riemann_bundle(s007_bundle, tmp_path, capsys, edit, message):
    """Hashes recomputed after the edit: only the semantic checks can refuse it (exit 3)."""
    import shutil

    from conftest import rehash_bundle

    from edge.cli import main as edge_main

    path = tmp_path / "broken.mibundle"
    shutil.copytree(s007_bundle[0], path)
    arrays = dict(np.load(path / "riemann.npz"))
    edit(arrays, {"decoders": {"riemann": {"params": {}}}})
    np.savez(path / "riemann.npz", **arrays)
    rehash_bundle(path, lambda m: edit({}, m) if edit is _negative_horizon else None)
    assert edge_main(["check", str(path)]) == 3
    assert message in capsys.readouterr().err
