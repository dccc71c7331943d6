"""Recordings in the formats MNE-Python reads (EDF, BDF, GDF, FIF, BrainVision, EEGLAB...),
read as a :class:`~edge.recording.ContinuousRecording` for the exporter.

The edge runtime reads the project's npz, BrainFlow files and OpenBCI GUI recordings
(:mod:`edge.recording_formats`) without MNE; the exporter also reads everything MNE's
``mne.io.read_raw`` reads. MNE is imported only when such a file is met (the ``export`` extra
installs it).

* **Samples**: the EEG channels (``mne.pick_types(eeg=True)``; every channel of an EDF/BDF is
  EEG unless its label says otherwise), converted from MNE's volts back to µV.
* **Events**: every annotation (``BAD_*`` and ``EDGE*`` excepted) becomes an event at its
  onset sample; the codes number the distinct descriptions in sorted order and
  ``event_names`` holds the descriptions (eegmmidb's EDF files: ``T0``, ``T1``, ``T2`` -> codes
  0, 1, 2, as in the eegmmidb npz). Name the cue classes with ``--events T1=left_hand,...``
  (:func:`export.event_map.parse_event_map`).
* **Subject and run**: the file's ``subject_info`` id (EDF+ patient code; ``X`` means
  unknown), else the file name; the run from an
  ``R<n>`` in the file name (eegmmidb's ``S001R04.edf``), else 0.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from edge.recording import ContinuousRecording, _checked, load_continuous
from edge.recording_formats import ACCEPTED, sniff
from export.errors import DataError

__all__ = ["ACCEPTED_EXPORT", "read_mne_file", "read_recording"]

ACCEPTED_EXPORT = (f"{ACCEPTED}, and every file MNE-Python reads (EDF, BDF, GDF, FIF, "
                   "BrainVision .vhdr, EEGLAB .set, ...)")

_IGNORED = re.compile(r"^(bad|edge)", re.IGNORECASE)
_RUN = re.compile(r"R(\d+)")


def read_recording(path: str | Path, board: str | int | None = None) -> ContinuousRecording:
    """Any recording the exporter reads: the edge formats, then whatever MNE reads.

    Parameters
    ----------
    path : path
        A continuous npz, BrainFlow file, OpenBCI GUI recording or an MNE-readable file.
    board : str or int, optional
        BrainFlow files only: the board that wrote it (``--master-board``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if sniff(path) != "unknown":
        return load_continuous(path, board)
    return _checked(path, read_mne_file(path))


def read_mne_file(path: Path) -> dict[str, Any]:
    """The fields of a ContinuousRecording from a file ``mne.io.read_raw`` reads."""
    try:
        import mne
    except ImportError:
        raise DataError(f"{path}: not an npz, BrainFlow or OpenBCI GUI file, and MNE-Python "
                         "(which reads EDF, BDF, GDF, FIF, ...) is not installed: "
                         "pip install 'mi-edge[export]'") from None
    try:
        raw = mne.io.read_raw(path, preload=True, verbose="error")
    except Exception as exc:  # MNE raises ValueError, OSError, RuntimeError... per reader
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: not a recording this reads ({first}); accepted: "
                         f"{ACCEPTED_EXPORT}") from None
    picks = mne.pick_types(raw.info, eeg=True)
    if not len(picks):
        kinds = sorted(set(raw.get_channel_types()))
        raise DataError(f"{path}: no EEG channel (it has {', '.join(kinds)} channels); "
                         "mark the EEG channels' type in the file")
    events, names = _events(mne, raw, path)
    his_id = str((raw.info.get("subject_info") or {}).get("his_id") or "X")
    run = _RUN.search(path.name)
    return {"raw": raw.get_data(picks=picks) * 1e6,  # MNE's volts -> µV
            "events": events, "event_names": names,
            "ch_names": [raw.ch_names[i] for i in picks], "sfreq": float(raw.info["sfreq"]),
            "subject": his_id if his_id != "X" else path.name.split(".")[0],  # EDF+: X = unknown
            "run": int(run.group(1)) if run else 0}


def _events(mne, raw, path: Path) -> tuple[np.ndarray, list[str]]:
    """``[onset_sample, code]`` of every cue annotation and the description of each code."""
    names = sorted({str(d) for d in raw.annotations.description if not _IGNORED.match(str(d))})
    if not names:
        return np.zeros((0, 2), dtype=np.int64), []
    ids = {name: code + 1 for code, name in enumerate(names)}  # MNE wants non-zero ids
    events, _ = mne.events_from_annotations(raw, event_id=ids, verbose="error")
    onsets = events[:, 0] - raw.first_samp
    inside = (onsets >= 0) & (onsets < raw.n_times)
    if not np.all(inside):
        raise DataError(f"{path}: {int(np.sum(~inside))} annotation(s) outside the recording")
    return np.stack([onsets, events[:, 2] - 1], axis=1).astype(np.int64), names
