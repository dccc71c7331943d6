"""Band-pass filter bank: the frequency segments of FGSFT, one source for exporter and edge.

Zero-phase 5th-order Butterworth band-pass (forward then backward, ``scipy.signal.sosfiltfilt``)
as in Liu et al. 2025 (FGSFT), section III-B. Filters are pure functions of the window: no state
crosses windows, so the exporter (a batch of epochs) and the runtime (one window) run the same
arithmetic.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, sosfiltfilt

__all__ = ["fgsft_bands", "bandpass_sos", "bandpass"]

#: Butterworth order used for every band (the paper's 5th order).
FILTER_ORDER = 5


def fgsft_bands(
    bandwidths: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0),
    low: float = 4.0,
    high: float = 40.0,
    narrow_high: float = 34.0,
) -> list[tuple[float, float]]:
    """The multi-scale band list: each bandwidth with 50 % overlap.

    The paper fixes the bandwidths (4, 8, 16, 32 Hz, 50 % overlap) and that the 4 Hz scale ends
    with 30-34 Hz; it does not print the lower edge or where the wider scales stop. We start
    every scale at ``low`` = 4 Hz, end the 4 Hz scale at ``narrow_high`` = 34 Hz and the wider
    scales at ``high`` = 40 Hz. The default gives 14 + 8 + 3 + 1 = 26 bands (the exact list is
    recorded in the bundle manifest).

    Returns
    -------
    list of (float, float)
        (low, high) edges in Hz, by bandwidth then start frequency.
    """
    bands: list[tuple[float, float]] = []
    for bw in bandwidths:
        stop = narrow_high if bw == min(bandwidths) else high
        f = low
        while f + bw <= stop + 1e-9:
            bands.append((float(f), float(f + bw)))
            f += bw / 2.0
    return bands


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
