"""Cutting a continuous recording into labelled epochs: every mapped cue, and with rest windows
asked for (:mod:`export.rest`), windows from its rest periods as the last class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.recording import event_labels
from export.errors import DataError
from export.event_map import EventMap, resolve_event_map
from export.mne_formats import read_recording
from export.rest import RestWindows, rest_pseudo_onsets

__all__ = ["epochs_from_continuous"]


def _default_event_map(event_names: list[str], source: Path,
                       rest: RestWindows | None = None) -> dict[int, str]:
    """eegmmidb-style ``'T1 left_hand'`` names (the code is the index): every non-rest code,
    and the rest code too when rest windows are asked for."""
    keep = rest.name if rest is not None else None
    return {c: name for c, name in event_labels(event_names, source).items()
            if name != "rest" or name == keep}


def epochs_from_continuous(
    path: Path, event_map: EventMap | None, margin: tuple[float, float],
    rest: RestWindows | None = None, window: tuple[float, float] = (0.5, 2.5),
) -> dict[str, object]:
    """Cut every mapped cue of a continuous file into an epoch spanning ``margin`` s; with
    ``rest``, also the rest windows of its rest periods, labelled last."""
    rec = read_recording(path)
    mapping = (resolve_event_map(event_map, rec.event_names, path) if event_map
               else _default_event_map(rec.event_names, path, rest))
    rest_codes = {c for c, name in mapping.items() if rest is not None and name == rest.name}
    if rest is not None and not rest_codes:
        raise DataError(f"{path}: no rest period named {rest.name!r} among its events "
                        f"{sorted(set(mapping.values()))}; map the rest code with --events "
                        f"CODE={rest.name},...")
    cues = {c: name for c, name in mapping.items() if c not in rest_codes}
    names = list(dict.fromkeys(cues.values())) + ([rest.name] if rest is not None else [])
    pre = int(round(-margin[0] * rec.sfreq))
    n = int(round((margin[1] - margin[0]) * rec.sfreq))
    onsets = [(int(o), names.index(cues[int(c)])) for o, c in rec.events if int(c) in cues]
    if rest is not None:
        pseudo = rest_pseudo_onsets(rec.events, rest_codes, rec.raw.shape[1], rec.sfreq,
                                    window, rest)
        onsets += [(int(o), len(names) - 1) for o in pseudo]
    X, y = [], []
    for onset, label in onsets:
        a = onset - pre
        if a < 0 or a + n > rec.raw.shape[1]:
            continue  # the cue is too close to the start or end of the run
        X.append(rec.raw[:, a : a + n])
        y.append(label)
    if not X:
        raise DataError(f"{path}: no cue with codes {sorted(mapping)} fits in the recording")
    return {
        "X": np.stack(X),
        "y": np.array(y),
        "class_names": np.array(names),
        "ch_names": np.array(rec.ch_names),
        "sfreq": rec.sfreq,
        "tmin": -pre / rec.sfreq,
        "run": np.full(len(X), rec.run),
        "subject": rec.subject,
    }
