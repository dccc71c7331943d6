"""Band-pass filters: one source for exporter and edge (FGSFT bands, STFF-DA preprocessing).

The band *list* of FGSFT is training-time knowledge and lives in :mod:`export.grid`; a bundle
records the exact bands its decoder uses (and, since issue 15, their designs).

5th-order Butterworth band-pass as in Liu et al. 2025 (FGSFT), section III-B, run either
zero-phase (forward then backward, exactly ``scipy.signal.sosfiltfilt``'s arithmetic) or causally
(forward only, the state carried across calls by the caller). A :class:`BandFilter` holds what
``sosfiltfilt`` recomputes on every call: the second-order sections, their steady-state initial
conditions (``sosfilt_zi``) and the edge padding. It calls the compiled kernel of
:mod:`edge.filter_kernel` directly, so the runtime imports neither ``scipy.signal`` nor its
per-call setup. Filters are pure functions of the window: the exporter (a batch of epochs) and
the runtime (one window) run the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edge.filter_kernel import kernel

__all__ = ["FILTER_ORDER", "BandFilter", "bandpass_sos", "band_filter", "bandpass", "band_signal",
           "sosfilt_zi"]

#: Butterworth order used for every band (the paper's 5th order).
FILTER_ORDER = 5


@lru_cache(maxsize=256)
def bandpass_sos(low: float, high: float, sfreq: float, order: int = FILTER_ORDER) -> np.ndarray:
    """Second-order sections of a Butterworth band-pass; ``high`` is clipped below Nyquist.

    The design needs ``scipy.signal`` (imported here, lazily); bundles store the sections so the
    runtime does not.
    """
    from scipy.signal import butter

    nyq = sfreq / 2.0
    if low <= 0 or low >= nyq:
        raise ValueError(f"band {low}-{high} Hz: low edge must lie in (0, {nyq:g}) Hz")
    high = min(high, 0.95 * nyq)
    sos = butter(order, [low, high], btype="bandpass", fs=sfreq, output="sos")
    return sos


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    """Steady-state initial conditions of a step response, ``scipy.signal.sosfilt_zi`` in numpy.

    Per section the same linear system as ``scipy.signal.lfilter_zi`` (``(I - A') zi = B`` with
    the companion matrix of ``a``), solved by the same LAPACK call, so the result is bit
    identical.

    Returns
    -------
    ndarray, shape (n_sections, 2)
    """
    sos = np.asarray(sos, dtype=np.float64)
    zi = np.empty((len(sos), 2))
    scale = 1.0
    for i, section in enumerate(sos):
        b, a = section[:3], section[3:]
        if a[0] != 1.0:
            b, a = b / a[0], a / a[0]
        companion = np.zeros((2, 2))
        companion[0] = -a[1:] / a[0]
        companion[1, 0] = 1.0
        zi[i] = scale * np.linalg.solve(np.eye(2) - companion.T, b[1:] - a[1:] * b[0])
        scale *= np.sum(b) / np.sum(a)
    return zi


@dataclass(frozen=True, eq=False)
class BandFilter:
    """A band-pass ready to run: sections, their ``sosfilt_zi`` and the ``sosfiltfilt`` padding.

    Attributes
    ----------
    sos : ndarray, shape (n_sections, 6)
    zi : ndarray, shape (n_sections, 2)
        Steady state for a unit step (``sosfilt_zi(sos)``).
    padlen : int
        Odd-extension length of ``sosfiltfilt``'s default ``padtype="odd"``.
    """

    sos: np.ndarray
    zi: np.ndarray
    padlen: int

    @classmethod
    def from_sos(cls, sos: np.ndarray) -> BandFilter:
        sos = np.ascontiguousarray(sos, dtype=np.float64)
        if sos.ndim != 2 or sos.shape[1] != 6:
            raise ValueError(f"sos of shape {sos.shape}: expected (n_sections, 6)")
        ntaps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
        return cls(sos, sosfilt_zi(sos), 3 * ntaps)

    def initial_state(self, x0: np.ndarray) -> np.ndarray:
        """Steady-state filter state for signals starting at ``x0`` (n_signals,):
        (n_signals, n_sections, 2), the kernel's layout."""
        return np.ascontiguousarray(self.zi[None] * np.asarray(x0, dtype=np.float64)[:, None, None])

    def causal(self, x: np.ndarray, state: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Forward filtering of the rows of ``x`` (n_signals, n_samples).

        ``state`` (n_signals, n_sections, 2) continues an earlier call; None starts at the
        steady state of the first sample (as ``sosfiltfilt`` starts). Returns the filtered rows
        and the state to pass to the next call.
        """
        y = np.array(x, dtype=np.float64, order="C")
        zi = self.initial_state(y[:, 0]) if state is None else np.array(state, order="C")
        kernel()(self.sos, y, zi)
        return y, zi

    def zero_phase(self, x: np.ndarray, start: int = 0) -> np.ndarray:
        """``scipy.signal.sosfiltfilt(sos, x, axis=-1)[..., start:]``, bit identical.

        The backward pass stops at sample ``start``: the samples before it are never computed.

        Parameters
        ----------
        x : ndarray, shape (..., n_samples)
        start : int
            First output sample wanted.

        Returns
        -------
        ndarray, shape (..., n_samples - start)
        """
        return self.zero_phase_reversed(x, start)[..., ::-1]

    def zero_phase_reversed(self, x: np.ndarray, start: int = 0) -> np.ndarray:
        """:meth:`zero_phase` in reverse time order, as the backward pass leaves it (C-contiguous,
        no copy to turn it round)."""
        x = np.asarray(x, dtype=np.float64)
        shape, n, pad = x.shape, x.shape[-1], self.padlen
        if n <= pad:
            raise ValueError(f"the length of the input vector x must be greater than padlen, "
                             f"which is {pad}.")
        rows = x.reshape(-1, n)
        ext = np.empty((len(rows), n + 2 * pad))
        np.subtract(2 * rows[:, :1], rows[:, pad:0:-1], out=ext[:, :pad])
        ext[:, pad:pad + n] = rows
        np.subtract(2 * rows[:, -1:], rows[:, -2:-(pad + 2):-1], out=ext[:, pad + n:])
        k = kernel()
        k(self.sos, ext, self.initial_state(ext[:, 0]))
        back = ext[:, :pad + start - 1:-1] if pad + start > 0 else ext[:, ::-1]
        back = np.ascontiguousarray(back)
        k(self.sos, back, self.initial_state(back[:, 0]))
        return back[:, pad:].reshape(shape[:-1] + (n - start,))


@lru_cache(maxsize=256)
def band_filter(low: float, high: float, sfreq: float) -> BandFilter:
    """The :class:`BandFilter` of :func:`bandpass_sos`, designed once per band."""
    return BandFilter.from_sos(bandpass_sos(low, high, sfreq))


def bandpass(x: np.ndarray, low: float, high: float, sfreq: float) -> np.ndarray:
    """Zero-phase band-pass along the last axis (``sosfiltfilt`` of :func:`bandpass_sos`).

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
    return band_filter(float(low), float(high), float(sfreq)).zero_phase(x)


def band_signal(x: np.ndarray, low: float, high: float, sfreq: float,
                causal_lead: int | None = None) -> np.ndarray:
    """The analysed part of band-passed epochs, as an FGSFT model of either kind filters them.

    ``causal_lead`` None: zero-phase over ``x`` (:func:`bandpass`). An int: causal (forward
    only, starting at the steady state of the first sample) over all of ``x``, the first
    ``causal_lead`` samples, the filter's warm-up, dropped.

    Returns
    -------
    ndarray, shape (..., n_samples - causal_lead)
    """
    if causal_lead is None:
        return bandpass(x, low, high, sfreq)
    x = np.asarray(x, dtype=np.float64)
    rows = x.reshape(-1, x.shape[-1])
    y, _ = band_filter(float(low), float(high), float(sfreq)).causal(rows)
    return y[:, causal_lead:].reshape(x.shape[:-1] + (x.shape[-1] - causal_lead,))
