"""Band-pass filters: one source for exporter and edge (FGSFT bands, STFF-DA preprocessing).

The band *list* of FGSFT is training-time knowledge and lives in :mod:`export.grid`; a bundle
records the exact bands its decoder uses.

Zero-phase 5th-order Butterworth band-pass (forward then backward, ``scipy.signal.sosfiltfilt``)
as in Liu et al. 2025 (FGSFT), section III-B. Filters are pure functions of the window: no state
crosses windows, so the exporter (a batch of epochs) and the runtime (one window) run the same
arithmetic.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, sosfiltfilt

__all__ = ["bandpass_sos", "bandpass"]

#: Butterworth order used for every band (the paper's 5th order).
FILTER_ORDER = 5


@lru_cache(maxsize=256)
def bandpass_sos(low: float, high: float, sfreq: float, order: int = FILTER_ORDER) -> np.ndarray:
    """Second-order sections of a Butterworth band-pass; ``high`` is clipped below Nyquist."""
    nyq = sfreq / 2.0
    if low <= 0 or low >= nyq:
        raise ValueError(f"band {low}-{high} Hz: low edge must lie in (0, {nyq:g}) Hz")
    high = min(high, 0.95 * nyq)
    sos = butter(order, [low, high], btype="bandpass", fs=sfreq, output="sos")
    return sos


def bandpass(x: np.ndarray, low: float, high: float, sfreq: float) -> np.ndarray:
    """Zero-phase band-pass along the last axis.

    Parameters
    ----------
    x : ndarray, shape (..., n_samples)
    low, high : float
        Pass-band edges in Hz.
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    ndarray, same shape as ``x``
    """
    return sosfiltfilt(bandpass_sos(float(low), float(high), float(sfreq)), x, axis=-1)
