"""Re-centering references (edge/alignment.py) on real EEG covariances: the Riemannian mean
against pyriemann's, whitening to the identity, Euclidean alignment, the online reference."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import S002, S007

from edge.alignment import (
    OnlineReference,
    euclidean_align,
    geodesic,
    recenter,
    reference_mean,
    trial_covariances,
    whitener,
)
from edge.decoders.tangent import covariances
from edge.filterbank import band_filter


def _covs(path, n: int | None = None) -> np.ndarray:
    raw = np.load(path)
    X = raw["X"][:n, :, 160:480].astype(np.float64)  # 0.5-2.5 s after the cue at 160 Hz
    return covariances(band_filter(8.0, 30.0, 160.0).zero_phase(X))


@pytest.fixture(scope="module")
def covs() -> np.ndarray:
    return _covs(S007, 30)


def _riemann_distance(A: np.ndarray, B: np.ndarray) -> float:
    W = whitener(A)
    return float(np.sqrt(np.sum(np.log(np.linalg.eigvalsh(W @ B @ W)) ** 2)))


def test_riemannian_mean_matches_pyriemann(covs):
    from pyriemann.utils.mean import mean_riemann

    ours = reference_mean(covs, "riemann")
    ref = mean_riemann(covs, tol=1e-12, maxiter=200)
    assert np.max(np.abs(ours - ref)) <= 1e-8 * np.max(np.abs(ref))
    # and it is not the arithmetic mean (the test could tell them apart)
    assert _riemann_distance(reference_mean(covs, "euclid"), ref) > 0.05
    np.testing.assert_allclose(reference_mean(covs, "euclid"), covs.mean(axis=0), rtol=1e-12)


def test_weighted_mean_is_the_mean_of_repeated_covariances(covs):
    w = np.r_[np.full(10, 2.0), np.ones(20)]
    repeated = np.concatenate([covs[:10], covs])
    np.testing.assert_allclose(reference_mean(covs, "riemann", weights=w),
                               reference_mean(repeated, "riemann"), rtol=1e-8)


@pytest.mark.parametrize("metric", ["riemann", "euclid"])
def test_whitening_makes_the_mean_identity(covs, metric):
    W = whitener(reference_mean(covs, metric))
    np.testing.assert_allclose(W @ W, np.linalg.inv(reference_mean(covs, metric)), rtol=1e-6,
                               atol=1e-12)
    centred = recenter(covs, W)
    assert np.max(np.abs(reference_mean(centred, metric) - np.eye(covs.shape[1]))) <= 1e-8
    # before re-centering the mean is far from the identity (µV^2 scale)
    assert np.max(np.abs(reference_mean(covs, metric) - np.eye(covs.shape[1]))) > 1.0


def test_recentering_brings_two_subjects_to_one_reference():
    a, b = _covs(S007, 30), _covs(S002, 30)
    before = _riemann_distance(reference_mean(a), reference_mean(b))
    ra = reference_mean(recenter(a, whitener(reference_mean(a))))
    rb = reference_mean(recenter(b, whitener(reference_mean(b))))
    assert before > 1.0
    assert _riemann_distance(ra, rb) < 1e-6


def test_euclidean_alignment_whitens_the_trials():
    X = np.load(S007)["X"][:30, :, 160:480].astype(np.float64)
    W = whitener(reference_mean(trial_covariances(X), "euclid"))
    aligned = euclidean_align(X, W)
    assert aligned.shape == X.shape
    np.testing.assert_allclose(trial_covariances(aligned).mean(axis=0), np.eye(64), atol=1e-8)
    with pytest.raises(ValueError, match="whitener"):
        euclidean_align(X[:, :8], W)


def test_online_reference_converges_to_the_batch_mean(covs):
    from pyriemann.utils.mean import mean_riemann

    euclid = OnlineReference(64, horizon_windows=1e9, metric="euclid")
    euclid.update(covs)
    np.testing.assert_allclose(euclid.mean, covs.mean(axis=0), rtol=1e-10)
    riem = OnlineReference(64, horizon_windows=1e9, metric="riemann")
    for c in covs:  # one window at a time, as the runtime feeds it
        riem.update(c)
    spread = np.median([_riemann_distance(mean_riemann(covs), c) for c in covs])
    # the incremental geodesic mean lands within a few % of the spread of the data
    assert _riemann_distance(riem.mean, mean_riemann(covs)) < 0.05 * spread
    np.testing.assert_allclose(riem.whitener, whitener(riem.mean))


def test_online_reference_forgets_and_resets(covs):
    ref = OnlineReference(64, horizon_windows=10, metric="riemann", min_windows=5)
    assert not ref.ready
    with pytest.raises(ValueError, match="no window"):
        _ = ref.whitener
    ref.update(covs[:4])
    assert not ref.ready and ref.n == 4
    ref.update(covs)
    assert ref.ready
    # the cap moves: every channel's gain doubles (covariances x4); a horizon of 10 windows
    # follows within a few horizons
    moved = 4.0 * covs
    for _ in range(3):
        ref.update(moved)
    target = reference_mean(moved)
    assert _riemann_distance(ref.mean, target) < 0.3 * _riemann_distance(
        reference_mean(covs), target)
    ref.reset()
    assert ref.n == 0 and not ref.ready


def test_geodesic_endpoints(covs):
    A, B = covs[0], covs[1]
    for metric in ("riemann", "euclid"):
        np.testing.assert_allclose(geodesic(A, B, 0.0, metric), A, rtol=1e-9)
        np.testing.assert_allclose(geodesic(A, B, 1.0, metric), B, rtol=1e-7)


def test_bad_input_is_refused(covs):
    with pytest.raises(ValueError, match="metric"):
        reference_mean(covs, "logeuclid")
    with pytest.raises(ValueError, match="shape"):
        reference_mean(covs[0])
    with pytest.raises(ValueError, match="NaN"):
        reference_mean(np.full_like(covs, np.nan))
    with pytest.raises(ValueError, match="positive-definite"):
        whitener(-np.eye(4))
    ref = OnlineReference(64, horizon_windows=10)
    with pytest.raises(ValueError, match="64 channels"):
        ref.update(np.eye(8))
    with pytest.raises(ValueError, match="horizon"):
        OnlineReference(64, horizon_windows=0)
    with pytest.raises(ValueError, match="trials"):
        trial_covariances(np.zeros((64, 320)))


@pytest.mark.parametrize("kind", ["oas", "lw"])
def test_shrinkage_matches_scikit_learn(kind):
    from sklearn.covariance import ledoit_wolf, oas

    from edge.decoders.tangent import EPS

    X = np.load(S002)["X"][:3, :, 160:480].astype(np.float64)
    ours = covariances(X, kind)
    for x, c in zip(X, ours, strict=True):
        ref = (oas if kind == "oas" else ledoit_wolf)(x.T)[0]
        ref = ref + (EPS * np.trace(ref) / len(ref) + 1e-12) * np.eye(len(ref))
        np.testing.assert_allclose(c, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    with pytest.raises(ValueError, match="shrinkage"):
        covariances(X, "pca")
