"""Time segments of FGSFT: multi-scale rectangular windows inside the analysed epoch.

Liu et al. 2025, section III-B: window lengths 0.2, 0.4, 0.7, 1.0, 1.25 and 1.5 s, each with
50 % overlap, laid out so that for every scale the last window ends exactly at the end of the
epoch. Longer epochs keep the same six scales (more windows per scale).
"""

from __future__ import annotations

__all__ = ["PAPER_WINDOW_LENGTHS", "time_windows"]

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
