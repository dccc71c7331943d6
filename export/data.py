"""Load real EEG recordings (the npz formats of ``../shared/data``) into labelled epochs.

Two on-disk formats are read, both written by ``np.savez_compressed`` and loaded with
``allow_pickle=False``:

* epoch files (``X`` trials x channels x samples in µV, ``y``, ``class_names``, ``ch_names``,
  ``sfreq``, ``tmin``, ``run``, ``subject``);
* continuous files (``raw`` channels x samples in µV, ``events`` ``[onset_sample, code]``,
  ``event_names``, ``ch_names``, ``sfreq``, ``subject``, ``run``), epoched here from their events.

Continuous recordings may also be BrainFlow files, OpenBCI GUI recordings
(:mod:`edge.recording_formats`) or any file MNE reads (:mod:`export.mne_formats`: EDF, BDF,
GDF, FIF, ...), their cues named with an ``--events`` map (:mod:`export.event_map`).

Every selection is by name: channels by electrode label, classes by class name. The run id of
every trial is kept: it is the block used as a cross-validation group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.recording import ContinuousRecording, load_continuous
from edge.recording import resample as _resample
from edge.recording_formats import sniff
from export.epoching import epochs_from_continuous
from export.errors import DataError
from export.event_map import EventMap, parse_event_map
from export.mne_formats import read_recording
from export.rest import RestWindows

__all__ = [
    "DataError",
    "EpochSet",
    "load_epochs",
    "load_continuous",
    "read_recording",
    "ContinuousRecording",
    "file_sha256",
    "parse_event_map",
    "RestWindows",
]

EPOCH_KEYS = ("X", "y", "class_names", "ch_names", "sfreq", "tmin")


@dataclass
class EpochSet:
    """Labelled epochs cut relative to the cue.

    Attributes
    ----------
    X : ndarray, shape (n_trials, n_channels, n_samples)
        EEG in µV, float64.
    y : ndarray of int, shape (n_trials,)
        Index into ``class_names``.
    class_names : list of str
    ch_names : list of str
        Electrode labels in the row order of ``X``.
    sfreq : float
        Sampling rate in Hz.
    tmin : float
        Time of sample 0 relative to the cue, in s.
    groups : ndarray of int, shape (n_trials,)
        Recording block (run) of each trial, unique across the loaded files.
    runs : ndarray of int, shape (n_trials,)
        The source run number of each trial, as stored.
    subjects : list of str
        Subject id of each loaded file.
    sources : list of Path
        The files the epochs came from.
    rest_class : str or None
        The last class is rest ("no control", windows from rest periods), or None.
    """

    X: np.ndarray
    y: np.ndarray
    class_names: list[str]
    ch_names: list[str]
    sfreq: float
    tmin: float
    groups: np.ndarray
    runs: np.ndarray
    subjects: list[str] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)
    rest_class: str | None = None

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[-1])

    @property
    def tmax(self) -> float:
        return self.tmin + self.n_samples / self.sfreq

    def subset(self, mask: np.ndarray) -> EpochSet:
        """Return the trials selected by a boolean mask or an index array."""
        return EpochSet(
            X=self.X[mask],
            y=self.y[mask],
            class_names=list(self.class_names),
            ch_names=list(self.ch_names),
            sfreq=self.sfreq,
            tmin=self.tmin,
            groups=self.groups[mask],
            runs=self.runs[mask],
            subjects=list(self.subjects),
            sources=list(self.sources),
            rest_class=self.rest_class,
        )


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, hex encoded."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _open_npz(path: Path, required: Sequence[str]) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except Exception as exc:  # zipfile, pickle refusal, truncated members...
        raise DataError(f"{path}: not a readable npz file ({exc})") from exc
    missing = [k for k in required if k not in data]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}; expected {list(required)}")
    return data


def _channel_index(ch_names: Sequence[str], wanted: Sequence[str] | None,
                   source: Path) -> list[int]:
    if wanted is None:
        return list(range(len(ch_names)))
    lookup = {name.lower(): i for i, name in enumerate(ch_names)}
    missing = [ch for ch in wanted if ch.lower() not in lookup]
    if missing:
        raise DataError(
            f"{source}: channel(s) {', '.join(missing)} not in the recording; "
            f"it has {', '.join(ch_names)}"
        )
    return [lookup[ch.lower()] for ch in wanted]


def _window_slice(tmin_file: float, n_file: int, sfreq: float, window: tuple[float, float],
                  source: Path) -> slice:
    t0, t1 = window
    if not t1 > t0:
        raise DataError(f"window ({t0}, {t1}) s: the end must be after the start")
    start = int(round((t0 - tmin_file) * sfreq))
    n = int(round((t1 - t0) * sfreq))
    if start < 0 or start + n > n_file:
        have = (tmin_file, tmin_file + n_file / sfreq)
        raise DataError(
            f"{source}: window {t0:g}..{t1:g} s relative to the cue is outside the stored "
            f"epochs ({have[0]:g}..{have[1]:g} s)"
        )
    return slice(start, start + n)


def _select_classes(
    y: np.ndarray, class_names: list[str], classes: Sequence[str] | None, source: Path
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Keep the trials of ``classes`` (in that order) and re-index y. Returns mask, y, names."""
    if classes is None:
        classes = class_names
    missing = [c for c in classes if c not in class_names]
    if missing:
        raise DataError(
            f"{source}: class(es) {', '.join(missing)} not in the recording; "
            f"it has {', '.join(class_names)}"
        )
    old_to_new = {class_names.index(c): k for k, c in enumerate(classes)}
    mask = np.isin(y, list(old_to_new))
    y_new = np.array([old_to_new[int(v)] for v in y[mask]], dtype=np.int64)
    for k, c in enumerate(classes):
        if not np.any(y_new == k):
            raise DataError(f"{source}: class {c!r} has no trials")
    return mask, y_new, list(classes)


def load_epochs(
    paths: Sequence[str | Path],
    *,
    channels: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    window: tuple[float, float] | None = None,
    sfreq: float | None = None,
    runs: Sequence[int] | None = None,
    event_map: EventMap | None = None,
    rest: RestWindows | None = None,
) -> EpochSet:
    """Load and concatenate labelled epochs from epoch files and continuous recordings.

    Parameters
    ----------
    paths : sequence of path
        Epoch files (npz with ``X``) or continuous recordings (npz with ``raw``, BrainFlow
        and OpenBCI GUI files, anything MNE reads: :func:`export.mne_formats.read_recording`),
        freely mixed.
    channels : sequence of str, optional
        Electrode labels to keep, in this order (case-insensitive match). Default: the
        channels of the first file; every file must contain them.
    classes : sequence of str, optional
        Class names to keep, in this order (it defines the class index). Default: all classes
        of the first file.
    window : (float, float), optional
        Start and end in s relative to the cue. Default: the whole stored epoch.
    sfreq : float, optional
        Resample to this rate (polyphase, on the whole stored epoch before cropping).
    runs : sequence of int, optional
        Keep only trials of these source runs.
    rest : RestWindows, optional
        Also take rest windows from the rest periods of continuous files, as the last class
        (:mod:`export.rest`); epoch files cannot provide them.
    event_map : dict, optional
        For continuous files: event code or name -> class name
        (:func:`export.event_map.resolve_event_map`). Default: parsed from eegmmidb-style
        ``event_names`` (``'T1 left_hand'``), every code but rest.

    Returns
    -------
    EpochSet
    """
    if not paths:
        raise DataError("no data files given")
    parts: list[EpochSet] = []
    for p in map(Path, paths):
        want_ch = channels if channels is not None else (parts[0].ch_names if parts else None)
        want_cls = classes if classes is not None else (parts[0].class_names if parts else None)
        part = _load_file(p, want_ch, want_cls, window, sfreq, runs, event_map, rest)
        if parts:
            part.groups = part.groups + int(parts[-1].groups.max()) + 1
        parts.append(part)
    return _concatenate(parts)


def _read_epochs_file(p: Path, event_map: EventMap | None,
                      window: tuple[float, float] | None,
                      rest: RestWindows | None = None) -> dict[str, Any]:
    """The raw arrays of one epoch file, or of a continuous file epoched from its events."""
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    is_continuous = True  # BrainFlow and OpenBCI GUI files, MNE formats: read as recordings
    if sniff(p) == "npz":
        try:
            with np.load(p, allow_pickle=False) as probe:
                is_continuous = "raw" in probe.files
        except Exception as exc:
            raise DataError(f"{p}: not a readable npz file ({exc})") from exc
    if is_continuous:
        margin = (min(-0.5, (window or (0, 0))[0] - 0.5), max(4.0, (window or (0, 4))[1] + 0.5))
        return epochs_from_continuous(p, event_map, margin, rest, window or (0.5, 2.5))
    if rest is not None:
        raise DataError(f"{p}: an epoch file has no rest periods; rest windows (--rest) come "
                        "from continuous recordings (*_continuous.npz)")
    return _open_npz(p, EPOCH_KEYS)


def _load_file(p: Path, want_ch: Sequence[str] | None, want_cls: Sequence[str] | None,
               window: tuple[float, float] | None, sfreq: float | None,
               runs: Sequence[int] | None, event_map: EventMap | None,
               rest: RestWindows | None = None) -> EpochSet:
    d = _read_epochs_file(p, event_map, window, rest)
    X = np.asarray(d["X"], dtype=np.float64)
    if X.ndim != 3:
        raise DataError(f"{p}: X must be (trials, channels, samples), got shape {X.shape}")
    y = np.asarray(d["y"], dtype=np.int64)
    file_classes = [str(c) for c in np.atleast_1d(d["class_names"])]
    file_channels = [str(c) for c in np.atleast_1d(d["ch_names"])]
    if len(y) != len(X) or len(file_channels) != X.shape[1]:
        raise DataError(f"{p}: {len(X)} epochs, {len(y)} labels, {X.shape[1]} rows for "
                        f"{len(file_channels)} channel names")
    if not np.all(np.isfinite(X)):
        raise DataError(f"{p}: X contains NaN or infinite samples")
    fs = float(d["sfreq"])
    if not np.isfinite(fs) or fs <= 0:
        raise DataError(f"{p}: sampling rate {fs:g} Hz; expected a positive rate")
    run = np.asarray(d.get("run", np.zeros(len(y))), dtype=np.int64).reshape(-1)
    if run.size == 1:
        run = np.full(len(y), int(run[0]))
    idx = _channel_index(file_channels, want_ch, p)
    mask, y_sel, names = _select_classes(y, file_classes, want_cls, p)
    if runs is not None:
        keep_run = np.isin(run, list(runs))
        if not np.any(keep_run & mask):
            raise DataError(f"{p}: no trial from run(s) {list(runs)}; it has "
                            f"{sorted(set(run.tolist()))}")
        y_sel = y_sel[keep_run[mask]]
        mask = mask & keep_run
    X = X[mask][:, idx]
    run = run[mask]
    X, fs = _resample(X, fs, sfreq)
    tmin = float(d["tmin"])
    if window is not None:
        X = X[..., _window_slice(tmin, X.shape[-1], fs, window, p)]
        tmin = float(window[0])
    _, group = np.unique(run, return_inverse=True)
    return EpochSet(
        X=np.ascontiguousarray(X), y=y_sel, class_names=names,
        ch_names=[file_channels[i] for i in idx], sfreq=fs, tmin=tmin,
        groups=group, runs=run,
        subjects=[str(d.get("subject", p.stem))], sources=[p],
        rest_class=rest.name if rest is not None else None,
    )


def _concatenate(parts: list[EpochSet]) -> EpochSet:
    first = parts[0]
    for part in parts[1:]:
        if not np.isclose(part.sfreq, first.sfreq):
            raise DataError(
                f"{part.sources[0]}: sampling rate {part.sfreq:g} Hz differs from "
                f"{first.sources[0]} ({first.sfreq:g} Hz); pass a common target rate (--sfreq)"
            )
        if part.X.shape[-1] != first.X.shape[-1]:
            raise DataError(
                f"{part.sources[0]}: epochs of {part.X.shape[-1]} samples differ from "
                f"{first.X.shape[-1]} in {first.sources[0]}; pass a common --window"
            )
    return EpochSet(
        X=np.concatenate([p.X for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        class_names=first.class_names,
        ch_names=first.ch_names,
        sfreq=first.sfreq,
        tmin=first.tmin,
        groups=np.concatenate([p.groups for p in parts]),
        runs=np.concatenate([p.runs for p in parts]),
        subjects=[s for p in parts for s in p.subjects],
        sources=[s for p in parts for s in p.sources],
        rest_class=first.rest_class,
    )
