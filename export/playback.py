"""Write a BrainFlow playback file from a real continuous recording.

BrainFlow's ``PLAYBACK_FILE_BOARD`` replays a file written by ``DataFilter.write_file`` as if
the master board (a Cyton, a Cyton + Daisy...) were streaming it, in real time. With such a
file the whole runtime (acquisition, windows, decoders, decisions, serial bridge) runs on real
EEG without a headset.

The file has exactly ``BoardShim.get_num_rows(master_board)`` rows: BrainFlow skips every line
with another field count, so a file written for one board and played as another delivers zero
samples and raises no error. Rows:

* package counter: 0..255 wrapping (step 2 from 1 for a Cyton + Daisy, as BrainFlow numbers
  its joined packets);
* EEG inputs: the named recording channels, one per input in order, resampled to the board's
  rate (``scipy.signal.resample_poly``); inputs without a name are zero;
* timestamp: ``start_time + i / (rate * speed)`` s, monotonic (BrainFlow paces the playback by
  it, so ``speed > 1`` plays faster; it replaces the value by the wall clock on playback);
* marker: the recording's event code + 1 at the cue sample (eegmmidb: 1 = T0 rest,
  2 = T1 left, 3 = T2 right), 0 elsewhere;
* every other row (accelerometer, analog, other): 0.

Values are written with six decimals (``%lf``), i.e. to 1e-6 µV.

A JSON sidecar ``OUT.json`` (the output path with ``.json`` appended) records the board, the
channel of each input, the marker map, the rate, the speed and the SHA-256 of the source
recording; ``mi-edge`` reads its channels as the default montage and its board as the default
master board.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from brainflow.board_shim import BoardShim, BrainFlowError
from brainflow.data_filter import DataFilter

from edge.boards import (
    BoardConfigError,
    board_label,
    resolve_board,
    sidecar_path,
)
from edge.recording import ContinuousRecording
from export.data import DataError, _resample, file_sha256, read_recording

__all__ = ["PlaybackFile", "write_playback"]

log = logging.getLogger(__name__)

# Package-counter step and first value per master board (see edge.boards.COUNTERS).
_COUNTER_STEP = {2: (2, 1)}


@dataclass
class PlaybackFile:
    """What :func:`write_playback` wrote.

    Attributes
    ----------
    path, sidecar : Path
        The BrainFlow file and its JSON sidecar.
    board_id : int
        Master board the file is for.
    sfreq : float
        The board's rate, Hz (the samples' rate).
    n_samples : int
        Samples (lines) in the file.
    channels : list of (str or None)
        Recording channel on each EEG input; None for a zero-filled input.
    markers : ndarray of int, shape (n_markers, 2)
        ``[sample, marker value]`` of every cue written.
    """

    path: Path
    sidecar: Path
    board_id: int
    sfreq: float
    n_samples: int
    channels: list[str | None]
    markers: np.ndarray


def write_playback(
    continuous_npz: str | Path,
    out_file: str | Path,
    board: str | int = "cyton",
    channels: Sequence[str] | None = None,
    *,
    start_s: float = 0.0,
    duration_s: float | None = None,
    speed: float = 1.0,
    start_time: float = 0.0,
) -> PlaybackFile:
    """Write a BrainFlow playback file (and its JSON sidecar) from a continuous recording.

    Parameters
    ----------
    continuous_npz : path
        A ``*_continuous.npz`` recording (``raw`` (n_channels, n_samples) µV, ``events``).
    out_file : path
        The BrainFlow file to write; ``out_file + ".json"`` gets the sidecar.
    board : str or int
        Master board: ``cyton`` (8 inputs, 250 Hz), ``cyton-daisy`` (16, 125 Hz) or a BrainFlow
        board id.
    channels : sequence of str
        Recording channel for each EEG input of the board, in input order (required). Fewer
        names than inputs leave the remaining inputs at zero (logged).
    start_s, duration_s : float
        The part of the recording to write, s (default: all of it).
    speed : float
        Playback speed: the timestamp row advances ``1 / (rate * speed)`` per sample, and
        BrainFlow paces the playback by it (tests use a few times real time).
    start_time : float
        Timestamp of the first sample, s.

    Returns
    -------
    PlaybackFile

    Raises
    ------
    DataError
        Missing or unknown channels, too many names, an empty selection.
    """
    board_id = resolve_board(board)
    descr = _board_descr(board_id)
    rate = float(descr["sampling_rate"])
    eeg_rows = list(descr["eeg_channels"])
    if not speed > 0:
        raise DataError(f"speed must be > 0, got {speed}")
    rec = read_recording(continuous_npz)
    idx = _input_channels(rec, channels, len(eeg_rows), board_label(board_id))

    # crop in the recording's own samples, then resample to the board's rate
    n_rec = rec.raw.shape[1]
    a = int(round(start_s * rec.sfreq))
    b = n_rec if duration_s is None else a + int(round(duration_s * rec.sfreq))
    if not 0 <= a < b <= n_rec:
        raise DataError(f"{rec.source}: {start_s:g} s + {duration_s} s is outside the recording "
                        f"(0..{n_rec / rec.sfreq:g} s)")
    eeg, _ = _resample(rec.raw[idx, a:b], rec.sfreq, rate)
    n = int(eeg.shape[1])

    data, marks = _board_rows(descr, board_id, eeg, rec, a, b, rate, speed, start_time)
    out = Path(out_file)
    _write_board_file(data, out, board_id)

    names: list[str | None] = [rec.ch_names[i] for i in idx]
    names += [None] * (len(eeg_rows) - len(names))
    side = _write_sidecar(out, rec, descr, board_id, names, n, speed, start_time, marks, (a, b))
    log.info("wrote %s: %d samples (%.1f s) for %s, %d cue markers", out, n, n / rate,
             board_label(board_id), len(marks))
    return PlaybackFile(path=out, sidecar=side, board_id=board_id, sfreq=rate, n_samples=n,
                        channels=names, markers=np.array(marks, dtype=np.int64).reshape(-1, 2))


def _write_sidecar(out: Path, rec: ContinuousRecording, descr: dict[str, Any], board_id: int,
                   names: list[str | None], n: int, speed: float, start_time: float,
                   marks: list[tuple[int, int]], span: tuple[int, int]) -> Path:
    """``FILE.json``: what the playback file holds and where it came from."""
    a, b = span
    rate, num_rows = float(descr["sampling_rate"]), int(descr["num_rows"])
    eeg_rows = list(descr["eeg_channels"])
    side = sidecar_path(out)
    side.write_text(json.dumps({
        "format": "mi-edge-playback",
        "board": board_label(board_id),
        "board_id": board_id,
        "num_rows": num_rows,
        "sfreq": rate,
        "n_samples": n,
        "speed": speed,
        "start_time": start_time,
        "channels": names,
        "eeg_rows": eeg_rows,
        "marker_row": int(descr["marker_channel"]),
        **_marker_info(rec, marks),
        "source": {
            "file": str(rec.source),
            "sha256": file_sha256(rec.source),
            "sfreq": rec.sfreq,
            "start_s": a / rec.sfreq,
            "duration_s": (b - a) / rec.sfreq,
            "subject": rec.subject,
            "run": rec.run,
        },
        "resampling": f"scipy.signal.resample_poly {rec.sfreq:g} -> {rate:g} Hz"
                      if not math.isclose(rec.sfreq, rate) else "none",
    }, indent=2) + "\n")
    return side


def _board_rows(descr: dict[str, Any], board_id: int, eeg: np.ndarray, rec: ContinuousRecording,
                a: int, b: int, rate: float, speed: float,
                start_time: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Every row of the master board: EEG inputs, package counter, timestamps, cue markers."""
    n = int(eeg.shape[1])
    data = np.zeros((int(descr["num_rows"]), n), dtype=np.float64)
    data[list(descr["eeg_channels"])[: len(eeg)]] = eeg
    step, first = _COUNTER_STEP.get(board_id, (1, 0))
    data[int(descr["package_num_channel"])] = (first + step * np.arange(n)) % 256
    data[int(descr["timestamp_channel"])] = start_time + np.arange(n) / (rate * speed)
    marker_row = int(descr["marker_channel"])
    marks = []
    for onset, code in rec.events:
        if not a <= onset < b:
            continue
        pos = int(round((onset - a) * rate / rec.sfreq))
        if pos < n:
            data[marker_row, pos] = code + 1
            marks.append((pos, int(code) + 1))
    if data.shape[0] != BoardShim.get_num_rows(board_id):  # the silent-zero-samples trap
        raise AssertionError(f"{data.shape[0]} rows for {board_label(board_id)}")
    return data, marks


def _write_board_file(data: np.ndarray, out: Path, board_id: int) -> None:
    """``DataFilter.write_file``, then check the file has the master board's row count (BrainFlow
    plays a file with the wrong count as zero samples, silently)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    DataFilter.write_file(np.ascontiguousarray(data), str(out), "w")
    with open(out) as fh:
        width = len(fh.readline().rstrip("\n").split("\t"))
    if width != data.shape[0]:
        raise AssertionError(f"{out}: wrote {width} values per line, {board_label(board_id)} "
                             f"needs {data.shape[0]}")


def _board_descr(board_id: int) -> dict[str, Any]:
    """BrainFlow's description of a master board that has EEG inputs."""
    try:
        descr = BoardShim.get_board_descr(board_id)
    except BrainFlowError as exc:
        raise BoardConfigError(f"{board_label(board_id)} cannot be a playback master: {exc}") \
            from exc
    if not descr.get("eeg_channels"):
        raise BoardConfigError(f"{board_label(board_id)} has no EEG inputs")
    return descr


def _input_channels(rec: ContinuousRecording, channels: Sequence[str] | None, n_inputs: int,
                    board: str) -> list[int]:
    """Recording rows for the board's EEG inputs, in input order (named by the user)."""
    if not channels:
        raise DataError(
            f"give the recording channel for each of the {n_inputs} EEG inputs of "
            f"{board}, in input order (--channels C3 Cz C4 ...); the recording "
            f"has {', '.join(rec.ch_names)}")
    if len(channels) > n_inputs:
        raise DataError(f"{len(channels)} channels given but {board} has {n_inputs} EEG inputs")
    lookup = {c.lower(): i for i, c in enumerate(rec.ch_names)}
    missing = [c for c in channels if c.lower() not in lookup]
    if missing:
        raise DataError(f"{rec.source}: channel(s) {', '.join(missing)} not in the recording; it "
                        f"has {', '.join(rec.ch_names)}")
    if len({c.lower() for c in channels}) != len(channels):
        raise DataError(f"channels {list(channels)}: a channel is named twice")
    if len(channels) < n_inputs:
        log.warning("%d channel(s) for the %d EEG inputs of %s: inputs %d..%d are written as "
                    "zeros", len(channels), n_inputs, board, len(channels) + 1, n_inputs)
    return [lookup[c.lower()] for c in channels]


def _marker_info(rec: ContinuousRecording, marks: list[tuple[int, int]]) -> dict[str, Any]:
    event_map = {str(code + 1): (rec.event_names[code] if code < len(rec.event_names)
                                 else f"event {code}")
                 for code in sorted({int(c) for c in rec.events[:, 1]})}
    return {
        "marker_map": event_map,
        "marker_note": "marker = source event code + 1 at the cue sample (0 = no marker)",
        "markers": [list(m) for m in marks],
    }
