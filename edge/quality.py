"""Signal checks on a window before it is decoded: NaN, railed, flat and line noise.

OpenBCI convention: a channel is *railed* when its samples sit at the ADC's limit. The Cyton's
ADS1299 at gain 24 spans +/-187,500 µV; the OpenBCI GUI flags a channel railed above 90 % of
that. A window with a NaN, a railed sample, a flat (disconnected) channel or a channel under
mains hum is not decoded: the runtime reports bad signal (a BAD_SIGNAL fault) and makes no
decision from it.

Line noise is measured as the RMS of the 50 Hz and 60 Hz components (:func:`line_noise_uv`):
a Hann-windowed periodogram of linearly detrended 0.5 s segments of the window (50 % overlap,
the largest counts), summed over +/-1 Hz (at least two frequency bins) around each mains
frequency below Nyquist. The threshold, 50 µV RMS, sits
between what real, well-decoded EEG carries and what broke a decision:

* PhysioNet eegmmidb S007 (runs 4, 8, 12; 98 % left/right accuracy) carries 29-34 µV RMS of
  60 Hz on every channel in 2 s windows, and at most 6 µV at 50 Hz;
* 100 µV (amplitude) of 50 Hz added to C4 of run 12 reads 64-68 µV RMS in every 0.5 s segment,
  300 µV reads about 210 µV RMS (a ``right_hand`` DECISION was sent from that before).

The line-noise ratio (line power over the 2-40 Hz EEG band) is reported by
:mod:`edge.signal_check` for the user; the runtime decides on the absolute RMS, which does not
depend on how strong the EEG under it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["QualityConfig", "check_window", "line_noise_uv", "line_power", "detrend_linear",
           "CYTON_FULL_SCALE_UV"]

CYTON_FULL_SCALE_UV = 187_500.0

#: Mains frequencies checked (Hz): 50 Hz in most of the world, 60 Hz in the Americas.
LINE_FREQS = (50.0, 60.0)
#: Length of the segments the runtime measures line noise on, s (:func:`line_noise_uv`).
SEGMENT_S = 0.5


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of :func:`check_window`.

    Attributes
    ----------
    railed_uv : float
        A sample at or beyond this magnitude is railed (90 % of the Cyton's range).
    flat_uv : float
        Peak-to-peak below this: the channel carries nothing.
    sfreq : float or None
        Sampling rate of the windows; None turns the line-noise check off.
    line_noise_uv : float
        RMS of the 50 or 60 Hz component above which a channel is bad (50 µV; module doc);
        0 turns the line-noise check off (``--line-noise-uv 0``).
    line_freqs : tuple of float
        Mains frequencies checked.
    """

    railed_uv: float = 0.9 * CYTON_FULL_SCALE_UV
    flat_uv: float = 1e-6  # peak-to-peak below this: the channel carries nothing
    sfreq: float | None = None
    line_noise_uv: float = 50.0
    line_freqs: tuple[float, ...] = LINE_FREQS


def detrend_linear(x: np.ndarray) -> np.ndarray:
    """``scipy.signal.detrend(x, axis=-1)`` (the least-squares line removed from each row), in
    numpy: the runtime does not import ``scipy.signal`` (~68 MiB of RSS)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    centred = x - x.mean(axis=-1, keepdims=True)
    if n < 2:
        return centred
    return centred - ((centred @ t) / float(t @ t))[..., None] * t


def line_power(window: np.ndarray, sfreq: float, freqs: tuple[float, ...] = LINE_FREQS,
               band: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Power (µV²) of each channel around each of ``freqs``, and in ``band`` if given.

    Parameters
    ----------
    window : ndarray, shape (n_channels, n_samples)
        Finite EEG in µV.
    sfreq : float
        Sampling rate, Hz.
    freqs : tuple of float
        Centre frequencies; those within the half-width of Nyquist give 0.
    band : (float, float), optional
        Also return the power between these frequencies (the EEG band), else zeros.

    Returns
    -------
    line : ndarray, shape (n_channels, len(freqs))
        Mean-square of each component (an amplitude-A sine gives A²/2).
    band_power : ndarray, shape (n_channels,)
    """
    x = np.asarray(window, dtype=np.float64)
    n = x.shape[-1]
    w = np.hanning(n)
    spec = np.abs(np.fft.rfft(detrend_linear(x) * w, axis=-1)) ** 2
    scale = 2.0 / (n * float(np.sum(w * w)))  # one-sided periodogram -> mean square
    f = np.fft.rfftfreq(n, 1.0 / sfreq)
    half = max(1.0, 2.0 * sfreq / n)
    line = np.zeros((x.shape[0], len(freqs)))
    for k, f0 in enumerate(freqs):
        if f0 + half < sfreq / 2:
            line[:, k] = spec[:, np.abs(f - f0) <= half].sum(axis=1) * scale
    band_power = np.zeros(x.shape[0])
    if band is not None:
        band_power = spec[:, (f >= band[0]) & (f <= band[1])].sum(axis=1) * scale
    return line, band_power


def line_noise_uv(window: np.ndarray, sfreq: float, freqs: tuple[float, ...] = LINE_FREQS,
                  segment_s: float = SEGMENT_S) -> tuple[np.ndarray, np.ndarray]:
    """RMS (µV) of the strongest mains component of each channel, and its frequency (Hz).

    Measured on ``segment_s`` segments with 50 % overlap, the last one ending with the window,
    and the largest kept: hum on only part of a window (an electrode that just came loose) is
    not averaged away, and the Hann taper of each segment does not hide the newest samples
    (overlapping Hann tapers weigh every sample alike). 100 µV or 300 µV of 50 Hz is found once it
    fills a quarter of a second (a segment ends every 0.25 s).

    Returns
    -------
    rms : ndarray, shape (n_channels,)
    freq : ndarray, shape (n_channels,)
    """
    x = np.asarray(window, dtype=np.float64)
    n = x.shape[-1]
    seg = min(n, max(8, int(round(segment_s * sfreq))))
    starts = range(n - seg, -1, -max(1, seg // 2))
    segments = np.stack([x[:, a:a + seg] for a in starts], axis=1)  # (ch, n_seg, seg)
    line, _ = line_power(segments.reshape(-1, seg), sfreq, freqs)
    line = line.reshape(x.shape[0], -1, len(freqs)).max(axis=1)
    k = np.argmax(line, axis=1)
    return np.sqrt(line[np.arange(line.shape[0]), k]), np.asarray(freqs, dtype=float)[k]


def check_window(window: np.ndarray, cfg: QualityConfig, ch_names: list[str]) -> str | None:
    """None when the window is usable, else a short reason naming the channels."""
    finite = np.isfinite(window)
    if not finite.all():
        bad = [ch_names[i] for i in np.flatnonzero(~finite.all(axis=1))]
        return f"NaN/inf samples on {', '.join(bad)}"
    railed = np.abs(window).max(axis=1) >= cfg.railed_uv
    if railed.any():
        return f"railed: {', '.join(ch_names[i] for i in np.flatnonzero(railed))}"
    flat = np.ptp(window, axis=1) < cfg.flat_uv
    if flat.any():
        return f"flat: {', '.join(ch_names[i] for i in np.flatnonzero(flat))}"
    if cfg.sfreq is not None and cfg.line_noise_uv > 0 and window.shape[-1] >= 8:
        rms, freq = line_noise_uv(window, cfg.sfreq, cfg.line_freqs)
        hum = np.flatnonzero(rms > cfg.line_noise_uv)
        if hum.size:
            return "line noise: " + ", ".join(
                f"{ch_names[i]} {rms[i]:.0f} µV RMS at {freq[i]:g} Hz" for i in hum)
    return None
