"""divCSP on real EEG: gradient, monotone ascent, and the lambda = 0 case against classic CSP."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import S007
from scipy.linalg import expm

from edge.features import covariances, log_variance_features
from edge.filterbank import bandpass
from export.data import load_epochs
from export.divcsp import DivCSP, csp_filters, divcsp, divcsp_objective

SENSORIMOTOR = ["FC3", "FC1", "FCz", "FC2", "FC4", "C5", "C3", "C1", "Cz", "C2", "C4", "C6",
                "CP3", "CP1", "CPz", "CP2", "CP4"]


@pytest.fixture(scope="module")
def mu_data():
    """S007 left/right, 17 sensorimotor channels, 8-13 Hz, 0.5-2.5 s: covariances and signals."""
    ep = load_epochs([S007], channels=SENSORIMOTOR, window=(0.5, 2.5))
    xf = bandpass(ep.X, 8.0, 13.0, ep.sfreq)
    return covariances(xf), ep.y, xf


def _fisher(feature: np.ndarray, y: np.ndarray) -> float:
    a, b = feature[y == 0], feature[y == 1]
    return float((a.mean() - b.mean()) ** 2 / (a.var() + b.var()))


@pytest.mark.parametrize("lam", [0.0, 0.1, 0.5])
def test_gradient_matches_finite_differences(mu_data, lam):
    covs, y, _ = mu_data
    rng = np.random.default_rng(1)
    n = covs.shape[-1]
    R = np.linalg.qr(rng.normal(size=(n, n)))[0]
    _, G = divcsp_objective(covs, y, R, d=4, lam=lam)
    assert np.allclose(G, -G.T)
    for _ in range(3):
        M = rng.normal(size=(n, n))
        M = M - M.T
        eps = 1e-6
        jp, _ = divcsp_objective(covs, y, expm(eps * M) @ R, d=4, lam=lam)
        jm, _ = divcsp_objective(covs, y, expm(-eps * M) @ R, d=4, lam=lam)
        numeric = (jp - jm) / (2 * eps)
        analytic = float(np.sum(G * M))
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_objective_never_decreases_from_a_random_start(mu_data):
    covs, y, _ = mu_data
    n = covs.shape[-1]
    R0 = np.linalg.qr(np.random.default_rng(2).normal(size=(n, n)))[0]
    res = divcsp(covs, y, d=4, lam=0.1, max_iter=200, tol=0.0, init=R0)
    J = np.array(res.objective)
    assert res.n_iter > 20 and len(J) > 20
    assert np.all(np.diff(J) >= 0)
    assert J[-1] > 5 * J[0]  # it actually climbs from the random rotation


def test_lambda_zero_top_filter_at_least_as_good_as_classic_csp(mu_data):
    """With lambda = 0 the top divCSP filter separates the classes at least as well as the top
    filter of MNE's CSP (the reference implementation, default component order), on the same
    trials; and the four filters are MNE's four."""
    import mne
    from mne.decoding import CSP

    mne.set_log_level("ERROR")
    covs, y, xf = mu_data
    ours = divcsp(covs, y, d=4, lam=0.0).filters
    ref = CSP(n_components=4, reg=None, cov_est="epoch", norm_trace=False).fit(xf, y).filters_[:4]

    def fisher(w):
        return _fisher(np.log(np.einsum("i,nij,j->n", w, covs, w)), y)

    assert fisher(ours[:, 0]) >= 0.99 * fisher(ref[0])
    assert fisher(ours[:, 0]) > 1.0  # S007 is clearly lateralised in mu
    np.testing.assert_allclose(sorted(fisher(w) for w in ours.T), sorted(fisher(w) for w in ref),
                               rtol=1e-3)


def test_regularised_filters_are_valid_features(mu_data):
    covs, y, _ = mu_data
    res = divcsp(covs, y, d=4, lam=0.1)
    feats = log_variance_features(covs, res.filters)
    assert feats.shape == (len(y), 4) and np.all(np.isfinite(feats))
    assert res.objective[-1] >= res.objective[0]
    # lambda = 0 reproduces classic CSP filters exactly (same subspace, same order)
    w0 = divcsp(covs, y, d=4, lam=0.0).filters
    wc = csp_filters(covs, y, d=4)
    norms = np.linalg.norm(w0, axis=0) * np.linalg.norm(wc, axis=0)
    cos = np.abs(np.sum(w0 * wc, axis=0)) / norms
    assert np.all(cos > 0.999)


def test_batch_solves_each_problem_as_if_alone():
    """The lockstep batch (all windows of a band and group) equals solving each one alone."""
    from export.divcsp import divcsp_batch

    ep = load_epochs([S007], channels=SENSORIMOTOR, window=(0.5, 2.5))
    xf = bandpass(ep.X, 8.0, 13.0, ep.sfreq)
    covs = np.stack([covariances(xf[..., s:s + 64]) for s in range(0, 257, 32)])
    batch = divcsp_batch(covs, ep.y, d=4, lam=0.1, max_iter=10)
    for k, res in enumerate(batch):
        alone = divcsp(covs[k], ep.y, d=4, lam=0.1, max_iter=10)
        assert res.n_iter == alone.n_iter
        np.testing.assert_allclose(res.objective, alone.objective, rtol=1e-9)
        np.testing.assert_allclose(res.filters, alone.filters, rtol=1e-6, atol=1e-9)


def test_divcsp_transformer_in_a_pipeline_and_clone(mu_data):
    """DivCSP is a scikit-learn transformer: same filters as :func:`divcsp`, clone-able, and a
    DivCSP + SVC pipeline decodes held-out trials of S007 (first 30 train, last 15 test)."""
    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC


    covs, y, _ = mu_data
    est = DivCSP(n_filters=4, lam=0.1)
    assert clone(est).get_params() == est.get_params()
    est.fit(covs[:30], np.array(["L", "R"])[y[:30]])
    assert list(est.classes_) == ["L", "R"] and est.filters_.shape == (1, covs.shape[1], 4)
    np.testing.assert_array_equal(est.filters_[0], divcsp(covs[:30], y[:30]).filters)
    assert est.transform(covs).shape == (len(y), 4)
    pipe = make_pipeline(DivCSP(), SVC(kernel="linear")).fit(covs[:30], y[:30])
    assert pipe.score(covs[30:], y[30:]) >= 0.8
    with pytest.raises(ValueError, match="covariance matrices"):
        est.transform(covs[:, 0])


def test_divcsp_transformer_one_vs_rest_for_three_classes(mu_data):
    covs, y, _ = mu_data
    y3 = np.where(np.arange(len(y)) % 3 == 0, 2, y)  # a third label: one filter set per class
    est = DivCSP(n_filters=3).fit(covs, y3)
    assert est.filters_.shape == (3, covs.shape[1], 3)
    assert est.transform(covs).shape == (len(y), 9)
