"""Preprocessing of the neural decoders: one function for the exporter (a batch) and the edge.

STFF-DA (``papers/stff-da_motor-imagery_cnn-lstm-attention.txt``, section 4) band-passes the
epoch 0.5-40 Hz. We do it per window, zero-phase (``edge.filterbank.bandpass``: 5th-order
Butterworth, forward then backward), remove each channel's mean, then divide by one scale
learnt on the training set (the RMS of the filtered training windows, in µV) so the net sees
values of order 1. One scalar for all channels keeps the amplitude ratio between electrodes
(the lateralised mu/beta power that motor imagery is decoded from); a per-window z-score would
erase it. The same :class:`Preprocessing` object (stored as plain numbers in the bundle
manifest) runs in :mod:`export.stffda` at training time and in the edge decoders, so the two
sides run the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from edge.errors import BundleError
from edge.filterbank import FILTER_ORDER, BandFilter, band_filter, bandpass_sos

__all__ = ["Preprocessing", "DEFAULT_BAND"]

#: The paper's band-pass (section 4), Hz.
DEFAULT_BAND = (0.5, 40.0)


@dataclass(frozen=True)
class Preprocessing:
    """Band-pass, per-channel demeaning and a global scale.

    Attributes
    ----------
    low, high : float
        Pass-band edges in Hz (zero-phase Butterworth, :data:`edge.filterbank.FILTER_ORDER`).
    sfreq : float
        Sampling rate of the windows, Hz.
    scale : float
        Divisor applied after filtering (µV); 1.0 until :meth:`fit` learns it.
    sos : tuple or None
        The band-pass design (second-order sections as nested tuples), stored in the manifest
        so the runtime needs no ``scipy.signal`` to design it; None: designed on first use.
    """

    low: float = DEFAULT_BAND[0]
    high: float = DEFAULT_BAND[1]
    sfreq: float = 160.0
    scale: float = 1.0
    sos: tuple | None = field(default=None, compare=False, repr=False)

    @cached_property
    def band(self) -> BandFilter:
        """The filter, sections and ``sosfilt_zi`` computed once (not on every window)."""
        if self.sos is not None:
            return BandFilter.from_sos(np.array(self.sos, dtype=np.float64))
        return band_filter(float(self.low), float(self.high), float(self.sfreq))

    def fit(self, X: np.ndarray) -> Preprocessing:
        """Return a copy whose ``scale`` is the RMS of the filtered, demeaned training windows.

        Parameters
        ----------
        X : ndarray, shape (n_windows, n_channels, n_samples)
            Raw training windows in µV.
        """
        z = self._filter(np.asarray(X, dtype=np.float64))
        rms = float(np.sqrt(np.mean(z**2)))
        if not np.isfinite(rms) or rms <= 0:
            raise ValueError("training windows are flat or non-finite; cannot learn a scale")
        return Preprocessing(self.low, self.high, self.sfreq, rms, self.sos)

    def _filter(self, X: np.ndarray) -> np.ndarray:
        z = self.band.zero_phase(X)
        return z - z.mean(axis=-1, keepdims=True)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Preprocess windows.

        Parameters
        ----------
        X : ndarray, shape (..., n_channels, n_samples)
            Raw EEG in µV.

        Returns
        -------
        ndarray of float32, same shape
            What the network takes.
        """
        return (self._filter(np.asarray(X, dtype=np.float64)) / self.scale).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``preprocessing`` entry (plain JSON numbers and a description)."""
        sos = self.sos if self.sos is not None else \
            bandpass_sos(float(self.low), float(self.high), float(self.sfreq)).tolist()
        return {
            "low": self.low, "high": self.high, "sfreq": self.sfreq, "scale": self.scale,
            "sos": [list(section) for section in sos],
            "steps": [
                f"band-pass {self.low:g}-{self.high:g} Hz, Butterworth order {FILTER_ORDER}, "
                "zero-phase (sosfiltfilt), per window",
                "subtract each channel's mean over the window",
                "divide by scale (RMS of the filtered training windows, µV)",
                "cast to float32",
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        try:
            sos = d.get("sos")
            return cls(float(d["low"]), float(d["high"]), float(d["sfreq"]), float(d["scale"]),
                       None if sos is None else tuple(tuple(float(v) for v in s) for s in sos))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"preprocessing entry {d!r}: expected numbers low, high, sfreq, "
                              f"scale ({exc})") from exc
