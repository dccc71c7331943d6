"""The recordings users already have, read as a :class:`~edge.recording.ContinuousRecording`.

* **BrainFlow files** (``DataFilter.write_file``: one tab-separated line per sample, one column
  per board row; what ``mi-export playback``, ``mi-edge calibrate`` and the OpenBCI GUI's
  ``BrainFlow-RAW_*.csv`` write). The board says which rows are EEG, the rate and the marker
  row: from ``board=`` (``--master-board``), else the JSON sidecar ``FILE.json`` (``board_id``,
  ``channels``, ``marker_map``; written by ``mi-export playback`` and ``mi-edge calibrate``),
  else inferred from the column count and the timestamps' rate among the OpenBCI boards (Cyton,
  Cyton + Daisy, Ganglion and their WiFi forms) and the synthetic board.
* **OpenBCI GUI text recordings** (``OpenBCI-RAW-*.txt``, ``%``-commented header: ``%Sample
  Rate = 250 Hz``, ``%Board = ...``; v5/v6 with a column header row and a ``Marker Channel``,
  and the legacy ``%OpenBCI Raw EEG Data`` form). Values are µV as the GUI wrote them.

Either may be gzip-compressed (``.gz``). Electrode names: the sidecar's ``channels``, else the
board's OpenBCI GUI placement (:func:`edge.montage.default_montage`). Markers: a non-zero marker
value ``v`` at a sample becomes an event of code ``v - 1`` (the convention of ``mi-export
playback`` and ``mi-edge calibrate``: marker = event code + 1, 0 = none); event names come
from the sidecar's ``marker_map``, else ``marker v`` (give the classes with ``--events``).
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import InputError

__all__ = ["ACCEPTED", "read_brainflow_file", "read_openbci_txt", "sniff"]

log = logging.getLogger(__name__)

ACCEPTED = ("continuous npz (*_continuous.npz), BrainFlow files (DataFilter.write_file, "
            "OpenBCI GUI BrainFlow-RAW *.csv) and OpenBCI GUI text recordings (%OpenBCI Raw ... "
            "*.txt), optionally .gz")

# BrainFlow boards whose files are recognised from their column count and rate.
_INFERABLE = (0, 2, 1, 5, 6, -1)  # Cyton, Cyton+Daisy, Ganglion, Cyton(-Daisy) WiFi, synthetic


def _is_gz(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path):
    return gzip.open(path, "rt", errors="replace") if _is_gz(path) else open(path,
                                                                             errors="replace")


def sniff(path: Path) -> str:
    """``'npz'``, ``'brainflow'``, ``'openbci_txt'`` or ``'unknown'`` from the first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] == b"PK":
        return "npz"
    try:
        with _open_text(path) as fh:
            first = fh.readline(4096)
    except (OSError, EOFError, UnicodeError):
        return "unknown"
    if first.startswith("%OpenBCI") or first.startswith("%"):
        return "openbci_txt"
    fields = first.rstrip("\r\n").split("\t")
    if len(fields) > 2:
        try:
            [float(f) for f in fields]
        except ValueError:
            return "unknown"
        return "brainflow"
    return "unknown"


def _sidecar(path: Path) -> dict[str, Any] | None:
    side = Path(str(path) + ".json")
    if not side.is_file():
        return None
    try:
        data = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{side}: unreadable sidecar ({exc})") from exc
    return data if isinstance(data, dict) else None


def _events(markers: np.ndarray, marker_map: dict[str, str] | None) -> tuple[np.ndarray,
                                                                             list[str]]:
    """``[onset, code]`` of every non-zero marker (code = marker - 1) and the code names."""
    idx = np.flatnonzero(np.nan_to_num(markers) != 0)
    codes = np.rint(markers[idx]).astype(np.int64) - 1
    events = np.stack([idx.astype(np.int64), codes], axis=1) if idx.size else np.zeros(
        (0, 2), dtype=np.int64)
    top = max([int(codes.max()) if codes.size else -1,
               *(int(k) - 1 for k in (marker_map or {}) if str(k).lstrip("-").isdigit())])
    names = [(marker_map or {}).get(str(c + 1), f"marker {c + 1}") for c in range(top + 1)]
    return events, names


def _board_names(board_id: int, n_eeg: int, side: dict[str, Any] | None) -> list[str]:
    from brainflow.board_shim import BoardShim, BrainFlowError

    from edge.montage import default_montage

    if side and side.get("channels"):
        given = list(side["channels"])[:n_eeg]
        given += [None] * (n_eeg - len(given))  # a montage may leave the last inputs unused
        names = [str(c) if c else f"EXG {i}" for i, c in enumerate(given)]
    else:
        try:
            eeg_names = BoardShim.get_eeg_names(board_id)
        except BrainFlowError:
            eeg_names = None
        try:
            names = [n or f"EXG {i}" for i, n in
                     enumerate(default_montage(board_id, eeg_names).names)]
        except InputError:
            names = [f"EXG {i}" for i in range(n_eeg)]
    if len(names) != n_eeg:
        raise InputError(f"{len(names)} channel names for the board's {n_eeg} EEG inputs")
    return names


def _infer_board(path: Path, data: np.ndarray) -> int:
    from brainflow.board_shim import BoardShim

    rows = data.shape[0]
    cands = [b for b in _INFERABLE if BoardShim.get_num_rows(b) == rows]
    if len(cands) > 1:  # same width: tell them apart by the rate of the timestamps
        ts = data[BoardShim.get_timestamp_channel(cands[0])]
        dt = np.diff(ts[ts > 0])
        rate = 1.0 / np.median(dt) if dt.size and np.median(dt) > 0 else 0.0
        cands = [b for b in cands if abs(BoardShim.get_sampling_rate(b) - rate) < 0.15 * rate]
    if len(cands) != 1:
        raise InputError(
            f"{path}: a BrainFlow file with {rows} rows, but which board wrote it cannot be "
            "told; give it (--master-board cyton / cyton-daisy / ..., or a sidecar "
            f"{path.name}.json with {{\"board_id\": 0}})")
    log.info("%s: %d rows, read as BrainFlow board %d", path, rows, cands[0])
    return cands[0]


def read_brainflow_file(path: Path, board: str | int | None = None) -> dict[str, Any]:
    """The fields of a ContinuousRecording from a BrainFlow file (module docstring)."""
    from brainflow.board_shim import BoardShim, BrainFlowError
    from brainflow.data_filter import DataFilter

    from edge.boards import resolve_board

    side = _sidecar(path)
    try:
        if _is_gz(path):
            with _open_text(path) as fh:
                data = np.loadtxt(fh, delimiter="\t", ndmin=2).T
        else:
            data = DataFilter.read_file(str(path))
    except (BrainFlowError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable BrainFlow file ({exc})") from exc
    if board is not None:
        board_id = resolve_board(board)
    elif side and "board_id" in side:
        board_id = int(side["board_id"])
    else:
        board_id = _infer_board(path, data)
    rows = BoardShim.get_num_rows(board_id)
    if data.shape[0] != rows:
        raise InputError(f"{path}: {data.shape[0]} values per line, but board {board_id} "
                         f"files have {rows}; is --master-board right?")
    eeg = BoardShim.get_eeg_channels(board_id)
    events, names = _events(data[BoardShim.get_marker_channel(board_id)],
                            (side or {}).get("marker_map"))
    return {"raw": data[eeg], "events": events, "event_names": names,
            "ch_names": _board_names(board_id, len(eeg), side),
            "sfreq": float(BoardShim.get_sampling_rate(board_id)),
            **_origin(path, side)}


def _origin(path: Path, side: dict[str, Any] | None) -> dict[str, Any]:
    """Subject and run from the sidecar (top level, or its ``source`` for playback files)."""
    side = side or {}
    source = side.get("source") if isinstance(side.get("source"), dict) else {}
    return {"subject": str(side.get("subject", source.get("subject", path.name.split(".")[0]))),
            "run": int(side.get("run", source.get("run", 0)))}


def _txt_header(path: Path) -> tuple[dict[str, str], list[str] | None, int]:
    """``%Key = value`` header fields, the column names (v5/v6) and the lines before data."""
    fields: dict[str, str] = {}
    columns = None
    skip = 0
    with _open_text(path) as fh:
        for line in fh:
            if line.startswith("%"):
                key, _, value = line[1:].partition("=")
                fields[key.strip().lower()] = value.strip()
            elif line.strip().lower().startswith("sample index"):
                columns = [c.strip() for c in line.split(",")]
            else:
                break
            skip += 1
    return fields, columns, skip


def read_openbci_txt(path: Path, board: str | int | None = None) -> dict[str, Any]:
    """The fields of a ContinuousRecording from an OpenBCI GUI text recording."""
    fields, columns, skip = _txt_header(path)
    try:
        sfreq = float(fields["sample rate"].split()[0])
    except (KeyError, ValueError, IndexError):
        raise InputError(f"{path}: no '%Sample Rate = ... Hz' line; not an OpenBCI GUI "
                         "recording") from None
    if columns is not None:
        eeg_cols = [i for i, c in enumerate(columns) if c.lower().startswith(("exg channel",
                                                                               "eeg channel"))]
        marker_col = next((i for i, c in enumerate(columns) if c.lower().startswith("marker")),
                          None)
    else:  # legacy: sample index, then the EEG channels
        n = int(fields.get("number of channels", "8"))
        eeg_cols, marker_col = list(range(1, n + 1)), None
    if not eeg_cols:
        raise InputError(f"{path}: no EXG channel column in {columns}")
    cols = eeg_cols + ([marker_col] if marker_col is not None else [])
    try:
        with _open_text(path) as fh:
            table = np.loadtxt(fh, delimiter=",", skiprows=skip, usecols=cols, ndmin=2).T
    except ValueError as exc:
        raise InputError(f"{path}: unreadable OpenBCI GUI data ({exc})") from exc
    n_eeg = len(eeg_cols)
    if board is not None:
        from edge.boards import resolve_board

        board_id = resolve_board(board)
    else:
        board_id = {8: 0, 16: 2, 4: 1}.get(n_eeg, -100)  # Cyton, Cyton + Daisy, Ganglion
    side = _sidecar(path)
    names = (_board_names(board_id, n_eeg, side) if board_id != -100 or side
             else [f"EXG {i}" for i in range(n_eeg)])
    markers = table[n_eeg] if marker_col is not None else np.zeros(table.shape[1])
    events, event_names = _events(markers, (side or {}).get("marker_map"))
    return {"raw": table[:n_eeg], "events": events, "event_names": event_names,
            "ch_names": names, "sfreq": sfreq, **_origin(path, side)}
