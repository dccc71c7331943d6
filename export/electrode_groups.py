"""Spatial segments of FGSFT: electrode groups defined by channel name.

Liu et al. 2025 (section III-B, Fig. 5) use left/right-symmetric hand-designed electrode subsets
(sensorimotor core, wider central, frontal, occipital, decimated whole head, ...) plus two
subsets chosen by correlation-based channel selection (Jin et al., Neural Netw. 2019). The
figure lists electrodes, not names we can copy, so the groups below are our own 10-10 rendering
of the same ideas. They are resolved against whatever montage the data has:

* names match case-insensitively, and the old 10-20 names T3/T4/T5/T6 match T7/T8/P7/P8;
* a group keeps the channels the montage has; it is dropped below ``MIN_CHANNELS``;
* groups that resolve to the same channel set are merged (first name kept);
* with no named group left (unlabelled channels), the whole montage is one group.

On the 64-channel eegmmidb montage this gives 8 hand-designed + 2 correlation groups; on an
8-channel Cyton (Fp1 Fp2 C3 C4 P7 P8 O1 O2) it degrades to {C3, C4}, {P7, P8, O1, O2}, the
whole montage and the correlation groups that differ from those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.filterbank import bandpass

__all__ = ["NAMED_GROUPS", "ElectrodeGroup", "resolve_groups", "correlation_channels"]

MIN_CHANNELS = 2

NAMED_GROUPS: dict[str, tuple[str, ...]] = {
    "sensorimotor_core": ("C3", "C1", "Cz", "C2", "C4"),
    "sensorimotor": ("FC3", "FC1", "FCz", "FC2", "FC4", "C5", "C3", "C1", "Cz", "C2", "C4", "C6",
                     "CP3", "CP1", "CPz", "CP2", "CP4"),
    "central_wide": ("FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "T7", "C5", "C3", "C1", "Cz",
                     "C2", "C4", "C6", "T8", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6"),
    "frontal": ("F7", "F5", "F3", "F1", "Fz", "F2", "F4", "F6", "F8", "FC3", "FCz", "FC4"),
    "parietal": ("CP3", "CPz", "CP4", "P7", "P5", "P3", "P1", "Pz", "P2", "P4", "P6", "P8"),
    "occipital": ("P7", "P8", "PO7", "PO3", "POz", "PO4", "PO8", "O1", "Oz", "O2"),
    "temporal_lateral": ("FT7", "FC5", "T7", "C5", "TP7", "CP5", "FT8", "FC6", "T8", "C6", "TP8",
                         "CP6"),
    "whole_head_decimated": ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4",
                             "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2"),
}

#: Sizes of the two correlation-selected groups (the paper's 8 and 12 for 22 channels).
CORRELATION_SIZES = (8, 12)

_ALIASES = {"t3": "t7", "t4": "t8", "t5": "p7", "t6": "p8"}


def _canonical(name: str) -> str:
    n = name.strip().lower()
    return _ALIASES.get(n, n)


@dataclass(frozen=True)
class ElectrodeGroup:
    """A named channel subset resolved against a montage (``channels`` index its rows)."""

    name: str
    channels: tuple[int, ...]


def resolve_groups(ch_names: Sequence[str]) -> list[ElectrodeGroup]:
    """The hand-designed groups that a montage supports (see module docstring)."""
    lookup = {_canonical(n): i for i, n in enumerate(ch_names)}
    out: list[ElectrodeGroup] = []
    seen: set[tuple[int, ...]] = set()
    for name, members in NAMED_GROUPS.items():
        idx = tuple(sorted({lookup[_canonical(m)] for m in members if _canonical(m) in lookup}))
        if len(idx) >= MIN_CHANNELS and idx not in seen:
            seen.add(idx)
            out.append(ElectrodeGroup(name, idx))
    everything = tuple(range(len(ch_names)))
    if not out and len(everything) >= MIN_CHANNELS:
        out.append(ElectrodeGroup("all_channels", everything))
    return out


def correlation_channels(
    X: np.ndarray, sfreq: float, n_channels: int, band: tuple[float, float] = (8.0, 30.0)
) -> tuple[int, ...]:
    """Correlation-based channel selection (after Jin et al. 2019).

    MI-related channels are assumed to share information: on band-passed (8-30 Hz) training
    epochs, the Pearson correlation between every pair of channels is computed per trial and
    averaged over trials; the channels with the largest mean absolute correlation to the
    others are kept. It uses no labels, and only the epochs it is given (the training folds).

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_channels, n_samples)
    n_channels : int
        How many channels to keep (clipped to the montage).

    Returns
    -------
    tuple of int
        Sorted channel indices.
    """
    xf = bandpass(X, band[0], band[1], sfreq)
    xf = xf - xf.mean(axis=-1, keepdims=True)
    xf /= np.maximum(np.linalg.norm(xf, axis=-1, keepdims=True), 1e-12)
    corr = np.abs(np.matmul(xf, np.swapaxes(xf, -1, -2))).mean(axis=0)
    np.fill_diagonal(corr, 0.0)
    score = corr.sum(axis=1) / max(1, corr.shape[0] - 1)
    k = min(n_channels, X.shape[1])
    return tuple(sorted(int(i) for i in np.argsort(-score, kind="stable")[:k]))


def all_groups(X: np.ndarray, sfreq: float, ch_names: Sequence[str]) -> list[ElectrodeGroup]:
    """Hand-designed groups plus the correlation-selected ones, duplicates merged."""
    groups = resolve_groups(ch_names)
    seen = {g.channels for g in groups}
    for size in CORRELATION_SIZES:
        idx = correlation_channels(X, sfreq, size)
        if len(idx) >= MIN_CHANNELS and idx not in seen:
            seen.add(idx)
            groups.append(ElectrodeGroup(f"correlation_{size}", idx))
    return groups
