"""FGSFT as a scikit-learn estimator, and FGSFT for more than two classes, on real EEG."""

from __future__ import annotations

import time

import numpy as np
import pytest
import sklearn
from conftest import DATA, S007, WINDOW
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from edge.bundle import open_bundle
from edge.decoders import load_decoder
from export.data import load_epochs
from export.fgsft import FGSFTClassifier, FGSFTConfig
from export.train_fgsft import train_fgsft, write_fgsft

CONTINUOUS = [DATA / f"S007_R{r:02d}_continuous.npz" for r in (4, 8, 12)]
REST_MAP = {0: "rest", 1: "left_hand", 2: "right_hand"}
THREE = ["left_hand", "right_hand", "rest"]


@pytest.fixture(scope="module")
def s007():
    return load_epochs([S007], window=WINDOW)


def _fgsft(ep, **kw):
    return FGSFTClassifier(sfreq=ep.sfreq, ch_names=ep.ch_names, grid="fast", **kw)


def test_clone_keeps_hyper_parameters_and_no_fitted_state(s007):
    clf = _fgsft(s007, lam=0.2)
    assert clf.get_params()["lam"] == 0.2 and clf.get_params()["grid"] == "fast"
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    assert not hasattr(twin, "model_") and not hasattr(twin, "classes_")


def test_cross_val_score_and_pipeline_on_real_eeg(s007):
    """Three folds by run (S007 runs 4, 8, 12): the runs passed as LOBO groups through
    ``params``, and plain ``cv=3`` without groups (stratified contiguous blocks)."""
    t0 = time.perf_counter()
    runs = s007.runs
    by_run = cross_val_score(_fgsft(s007), s007.X, s007.y, groups=runs, cv=GroupKFold(3),
                             params={"groups": runs})
    plain = cross_val_score(_fgsft(s007), s007.X, s007.y, cv=3)
    assert by_run.mean() >= 0.7, by_run
    assert plain.mean() >= 0.7, plain
    # a Pipeline with a transformer in front; string labels come back as strings
    names = np.array(s007.class_names)[s007.y]
    train, test = runs != 12, runs == 12
    pipe = make_pipeline(FunctionTransformer(np.negative), _fgsft(s007))
    pipe.fit(s007.X[train], names[train], fgsftclassifier__groups=runs[train])
    assert list(pipe.classes_) == sorted(s007.class_names)
    assert np.mean(pipe.predict(s007.X[test]) == names[test]) >= 0.8
    assert pipe.predict_proba(s007.X[test]).shape == (int(test.sum()), 2)
    assert time.perf_counter() - t0 < 120


def test_groups_are_routed_with_metadata_routing(s007):
    runs = s007.runs
    with sklearn.config_context(enable_metadata_routing=True):
        clf = _fgsft(s007).set_fit_request(groups=True)
        # the runs go to both GroupKFold (which requests them) and FGSFT's LOBO blocks
        scores = cross_val_score(clf, s007.X, s007.y, cv=GroupKFold(3), params={"groups": runs})
    assert scores.mean() >= 0.7, scores


def test_two_class_results_are_unchanged_by_label_values(s007_fast_bundle):
    """Labels are encoded into ``classes_``: other label values give the same model."""
    _, clf, ep = s007_fast_bundle
    other = FGSFTClassifier.from_config(FGSFTConfig(grid="fast"), ep.sfreq, ep.ch_names)
    other.fit(ep.X, np.where(ep.y == 1, "R", "L"), ep.groups)
    assert list(other.classes_) == ["L", "R"]
    test = load_epochs([S007], window=WINDOW, runs=[12])
    assert np.array_equal(other.predict_proba(test.X), clf.predict_proba(test.X))


def test_three_classes_left_right_rest_above_chance(tmp_path):
    """Left / right / rest (T0) of S007: trained on runs 4 and 8, tested on run 12, exported
    and decoded through the edge."""
    train = load_epochs(CONTINUOUS[:2], window=WINDOW, event_map=REST_MAP, classes=THREE)
    test = load_epochs(CONTINUOUS[2:], window=WINDOW, event_map=REST_MAP, classes=THREE)
    clf = train_fgsft(train, FGSFTConfig(grid="fast"))
    assert clf.model_.n_classes == 3 and clf.model_.n_heads == 3
    p = clf.predict_proba(test.X)
    assert p.shape == (len(test.y), 3) and np.allclose(p.sum(axis=1), 1.0)
    acc = float(np.mean(np.argmax(p, axis=1) == test.y))
    print(f"3-class held-out accuracy {acc:.3f} ({len(test.y)} trials)")
    assert acc >= 0.7, acc  # measured 0.966 (28 of 29); chance is about 1/3
    path = write_fgsft(tmp_path / "three.mibundle", "fgsft", clf, train)
    bundle = open_bundle(path)
    dec = load_decoder(bundle, "fgsft")
    assert dec.classes_ == THREE and bundle.decoder_spec("fgsft")["params"]["n_classes"] == 3
    parity = float(np.max(np.abs(dec.predict_proba(test.X) - p)))
    print(f"3-class edge vs estimator max |dp| {parity:.2e}")
    assert parity <= 1e-9
