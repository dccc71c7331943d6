"""Linear SVM fits for the FGSFT inner loops.

The segment scoring fits tens of thousands of tiny SVMs (about 22 trials x 4 features each);
``sklearn.svm.SVC`` spends most of such a fit validating its inputs. :func:`fit_linear_svm` calls
the same libsvm solver that ``SVC(kernel="linear", C=1)`` wraps, through scikit-learn's
low-level binding, and falls back to ``SVC`` if that binding ever changes. Tested equal to
``SVC`` on real features.
"""

from __future__ import annotations

import numpy as np
from sklearn.svm import SVC

__all__ = ["fit_linear_svm"]

try:  # scikit-learn's libsvm binding (what SVC.fit calls after validation)
    from sklearn.svm import _libsvm

    _libsvm.set_verbosity_wrap(0)
except (ImportError, AttributeError):  # pragma: no cover
    _libsvm = None


def _fit_sklearn(X: np.ndarray, y: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    svm = SVC(kernel="linear", C=C).fit(X, y)
    return svm.coef_[0].astype(float), float(svm.intercept_[0])


def fit_linear_svm(X: np.ndarray, y: np.ndarray, C: float = 1.0) -> tuple[np.ndarray, float]:
    """Weights ``w`` and bias ``b`` of a C-SVC with a linear kernel; ``w @ x + b > 0`` is class 1.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray of int, shape (n_samples,)
        Labels 0 and 1.
    """
    if _libsvm is None:
        return _fit_sklearn(X, y, C)
    try:
        out = _libsvm.fit(np.ascontiguousarray(X, dtype=np.float64), y.astype(np.float64),
                          svm_type=0, kernel="linear", C=C, tol=1e-3, cache_size=200.0,
                          class_weight=np.empty(0), sample_weight=np.empty(0))
        support_vectors, sv_coef, intercept = out[1], out[3], out[4]
    except (TypeError, ValueError):  # binding changed: take the public path
        return _fit_sklearn(X, y, C)
    # libsvm orders classes as they come; sklearn's convention (positive = class 1) is -dual
    w = -(sv_coef @ support_vectors)[0]
    return w, float(-intercept[0])


def fit_kernel_svm(K: np.ndarray, y: np.ndarray, C: float = 1.0) -> tuple[np.ndarray, np.ndarray,
                                                                          float]:
    """C-SVC on a precomputed (linear) Gram matrix.

    Returns ``support`` (indices of the support vectors), ``dual`` (their signed dual
    coefficients) and ``b``, so that the decision value of a sample with kernel row ``k`` against
    the training samples is ``k[support] @ dual + b`` (> 0 is class 1).
    """
    if _libsvm is not None:
        try:
            out = _libsvm.fit(np.ascontiguousarray(K, dtype=np.float64), y.astype(np.float64),
                              svm_type=0, kernel="precomputed", C=C, tol=1e-3, cache_size=200.0,
                              class_weight=np.empty(0), sample_weight=np.empty(0))
            return out[0].astype(np.intp), -out[3][0], float(-out[4][0])
        except (TypeError, ValueError):  # binding changed: take the public path
            pass
    svm = SVC(kernel="precomputed", C=C).fit(K, y)
    return svm.support_.astype(np.intp), svm.dual_coef_[0].astype(float), float(svm.intercept_[0])
