"""Electrode adjacency matrices for STAFNet's graph module (seed paper section 2.3.1, Table 4).

* :func:`distance_adjacency`: a Gaussian kernel of the 3-D distance between electrodes of MNE's
  standard 10-05 montage, ``exp(-d_ij^2 / (2 sigma^2))`` with ``sigma`` the median distance to
  the nearest neighbour (so each electrode is coupled mainly to its ring of neighbours). Data
  free: it is the default initialisation of the adaptive adjacency.
* :func:`correlation_adjacency`: ``|corr(x_i, x_j)|`` of preprocessed training windows.
* :func:`pli_adjacency`: the phase-lag index ``|mean_t sign(sin(phi_i - phi_j))|`` (Stam et
  al. 2007) of the analytic signal of each training window, averaged over windows. The paper's
  static-adjacency ablation ("w/ PLI").

All return a symmetric (C, C) float32 matrix with entries in [0, 1] and a unit diagonal.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy.signal import hilbert

__all__ = ["ADJACENCY_KINDS", "distance_adjacency", "correlation_adjacency", "pli_adjacency",
           "adjacency_from_windows", "electrode_positions"]

#: ``distance`` needs channel names; ``correlation``/``pli`` need training windows;
#: ``identity`` is no coupling (each electrode on its own until the adjacency is learnt).
ADJACENCY_KINDS = ("distance", "correlation", "pli", "identity")


def _alias(name: str) -> str:
    """eegmmidb/EDF labels carry dots and odd case ('Fc5.', 'Cz..'); MNE's are 'FC5', 'Cz'."""
    return name.strip().strip(".").lower()


def electrode_positions(ch_names: Sequence[str]) -> np.ndarray:
    """3-D positions (C, 3) in metres from MNE's standard 10-05 montage.

    Raises
    ------
    ValueError
        Naming every electrode the montage does not know.
    """
    pos = _montage()
    missing = [c for c in ch_names if _alias(c) not in pos]
    if missing:
        raise ValueError(f"no 10-05 position for electrodes {missing}: use a correlation or "
                         f"PLI adjacency (adjacency='correlation'/'pli') for this montage")
    return np.array([pos[_alias(c)] for c in ch_names], dtype=np.float64)


@lru_cache(maxsize=1)
def _montage() -> dict[str, np.ndarray]:
    import mne  # export-side dependency

    builtin = mne.channels.get_builtin_montages()
    name = "colin27_1005" if "colin27_1005" in builtin else "standard_1005"
    return {_alias(k): v for k, v in
            mne.channels.make_standard_montage(name).get_positions()["ch_pos"].items()}


def distance_adjacency(ch_names: Sequence[str]) -> np.ndarray:
    """Gaussian kernel of inter-electrode distance (see the module docstring)."""
    p = electrode_positions(ch_names)
    d = np.linalg.norm(p[:, None] - p[None], axis=2)
    if len(p) == 1:
        return np.ones((1, 1), np.float32)
    nn = np.sort(d + np.diag(np.full(len(p), np.inf)), axis=1)[:, 0]
    sigma = float(np.median(nn))
    if sigma <= 0:
        raise ValueError("two electrodes share a position; cannot build a distance adjacency")
    return np.exp(-d ** 2 / (2 * sigma ** 2)).astype(np.float32)


def _check(windows: np.ndarray) -> np.ndarray:
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 3 or len(w) == 0:
        raise ValueError(f"expected training windows (n, C, T), got shape {w.shape}")
    return w


def correlation_adjacency(windows: np.ndarray) -> np.ndarray:
    """|Pearson correlation| between electrodes over all training windows (C, C)."""
    w = _check(windows)
    x = w.transpose(1, 0, 2).reshape(w.shape[1], -1)
    a = np.abs(np.corrcoef(x))
    np.fill_diagonal(a, 1.0)
    return np.nan_to_num(a).astype(np.float32)


def pli_adjacency(windows: np.ndarray) -> np.ndarray:
    """Phase-lag index between electrodes, averaged over training windows (C, C)."""
    w = _check(windows)
    phase = np.angle(hilbert(w, axis=2))  # (n, C, T)
    acc = np.zeros((w.shape[1], w.shape[1]))
    for ph in phase:
        s = np.sign(np.sin(ph[:, None, :] - ph[None, :, :]))  # (C, C, T)
        acc += np.abs(s.mean(axis=2))
    a = acc / len(w)
    np.fill_diagonal(a, 1.0)
    return a.astype(np.float32)


def adjacency_from_windows(kind: str, windows: np.ndarray) -> np.ndarray:
    """``correlation`` or ``pli`` adjacency of preprocessed training windows."""
    if kind == "correlation":
        return correlation_adjacency(windows)
    if kind == "pli":
        return pli_adjacency(windows)
    raise ValueError(f"adjacency {kind!r} is not computed from data (choose correlation or pli)")
