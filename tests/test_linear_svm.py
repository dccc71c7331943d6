"""The direct libsvm calls of the FGSFT inner loops equal scikit-learn's SVC, on real features."""

from __future__ import annotations

import numpy as np
from conftest import S007
from sklearn.svm import SVC

from edge.features import covariances, log_variance_features
from edge.filterbank import bandpass
from export.data import load_epochs
from export.divcsp import divcsp
from export.linear_svm import fit_kernel_svm, fit_linear_svm


def _features():
    ep = load_epochs([S007], channels=["C3", "C1", "Cz", "C2", "C4", "FC3", "FC4", "CP3", "CP4"],
                     window=(0.5, 2.5))
    covs = covariances(bandpass(ep.X, 8, 30, ep.sfreq))
    F = log_variance_features(covs, divcsp(covs[:30], ep.y[:30]).filters)
    return F, ep.y


def test_linear_svm_equals_svc():
    F, y = _features()
    w, b = fit_linear_svm(F[:30], y[:30])
    ref = SVC(kernel="linear", C=1.0).fit(F[:30], y[:30])
    np.testing.assert_allclose(w, ref.coef_[0], atol=1e-10)
    np.testing.assert_allclose(F[30:] @ w + b, ref.decision_function(F[30:]), atol=1e-10)


def test_kernel_svm_equals_svc():
    F, y = _features()
    K = F @ F.T
    support, dual, b = fit_kernel_svm(K[:30, :30], y[:30])
    ref = SVC(kernel="precomputed", C=1.0).fit(K[:30, :30], y[:30])
    np.testing.assert_allclose(K[30:, support] @ dual + b, ref.decision_function(K[30:, :30]),
                               atol=1e-10)


class _ChangedBinding:
    """A libsvm binding whose signature changed: every call fails as a changed one would."""

    @staticmethod
    def fit(*args, **kwargs):
        raise TypeError("fit() got an unexpected keyword argument 'svm_type'")


def test_falls_back_to_svc_without_the_private_binding(monkeypatch):
    """Without ``sklearn.svm._libsvm`` (import failed, or its signature changed) both fits take
    the public SVC path and give the same numbers."""
    import export.linear_svm as ls

    F, y = _features()
    K = F @ F.T
    w_ref, b_ref = fit_linear_svm(F[:30], y[:30])
    for binding in (None, _ChangedBinding):
        monkeypatch.setattr(ls, "_libsvm", binding)
        w, b = ls.fit_linear_svm(F[:30], y[:30])
        np.testing.assert_allclose(w, w_ref, atol=1e-10)
        np.testing.assert_allclose(b, b_ref, atol=1e-10)
        support, dual, b = ls.fit_kernel_svm(K[:30, :30], y[:30])
        ref = SVC(kernel="precomputed", C=1.0).fit(K[:30, :30], y[:30])
        np.testing.assert_allclose(K[30:, support] @ dual + b, ref.decision_function(K[30:, :30]),
                                   atol=1e-10)
