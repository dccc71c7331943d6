"""The FGSFT segment grid: frequency bands and multi-scale time windows (training only).

Liu et al. 2025, section III-B. The exporter lays the grid out; a bundle records the exact bands
and windows its decoder uses, so the edge never needs this module.

Time segments: window lengths 0.2, 0.4, 0.7, 1.0, 1.25 and 1.5 s, each with 50 % overlap, laid
out so that for every scale the last window ends exactly at the end of the epoch. Longer epochs
keep the same six scales (more windows per scale).

Frequency segments: bandwidths 4, 8, 16 and 32 Hz with 50 % overlap (filtered by
:func:`edge.filterbank.bandpass`, the code the edge runs).
"""

from __future__ import annotations

__all__ = ["PAPER_WINDOW_LENGTHS", "fgsft_bands", "time_windows"]


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


PAPER_WINDOW_LENGTHS: tuple[float, ...] = (0.2, 0.4, 0.7, 1.0, 1.25, 1.5)


def time_windows(
    n_samples: int, sfreq: float, lengths: tuple[float, ...] = PAPER_WINDOW_LENGTHS
) -> list[tuple[int, int]]:
    """Sample ranges ``[start, stop)`` of every window of every scale.

    For a scale of ``L`` samples the hop is ``round(L / 2)`` and the windows are placed backwards
    from the end of the epoch, so the last one ends at ``n_samples``. Scales longer than the epoch
    are skipped.

    Returns
    -------
    list of (int, int)
        Ordered by scale, then by start sample.
    """
    out: list[tuple[int, int]] = []
    for length_s in lengths:
        length = int(round(length_s * sfreq))
        if length < 2 or length > n_samples:
            continue
        hop = max(1, int(round(length / 2)))
        starts = list(range(n_samples - length, -1, -hop))[::-1]
        out.extend((s, s + length) for s in starts)
    return out
