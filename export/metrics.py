"""Classification metrics of a BCI: accuracy, Cohen's kappa, Wolpaw ITR, confusion matrix."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["wolpaw_itr_bits", "cohen_kappa", "confusion", "summarize"]


def wolpaw_itr_bits(accuracy: float, n_classes: int) -> float:
    """Bits per decision (Wolpaw et al. 2002); 0 at or below chance."""
    p, n = float(accuracy), int(n_classes)
    if p <= 1.0 / n:
        return 0.0
    if p >= 1.0:
        return math.log2(n)
    return math.log2(n) + p * math.log2(p) + (1 - p) * math.log2((1 - p) / (n - 1))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def cohen_kappa(cm: np.ndarray) -> float:
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float(np.sum(cm.sum(axis=0) * cm.sum(axis=1))) / n**2
    return 0.0 if pe == 1 else float((po - pe) / (1 - pe))


def summarize(y_true: np.ndarray, proba: np.ndarray, class_names: list[str],
              window_s: float) -> dict[str, object]:
    """Accuracy, kappa, ITR (bits/min for one decision per ``window_s``), confusion matrix."""
    y_pred = np.argmax(proba, axis=1)
    cm = confusion(y_true, y_pred, len(class_names))
    acc = float(np.mean(y_pred == y_true))
    bits = wolpaw_itr_bits(acc, len(class_names))
    return {
        "accuracy": acc,
        "kappa": cohen_kappa(cm),
        "itr_bits_per_trial": bits,
        "itr_bits_per_min": bits * 60.0 / window_s,
        "window_s": window_s,
        "n_trials": int(len(y_true)),
        "confusion": cm.tolist(),
        "classes": list(class_names),
    }
