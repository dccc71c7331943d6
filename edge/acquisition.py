"""Acquisition: any BrainFlow board as a :class:`edge.source.Source`.

``BrainFlowSource`` opens a board (a Cyton, a Cyton + Daisy, a Ganglion, BrainFlow's synthetic
board, or a playback file through BrainFlow's ``PLAYBACK_FILE_BOARD``), maps the bundle's
channels onto the board's EEG inputs through a :class:`edge.montage.Montage`, and hands the
decoding loop the new samples of those channels, in the bundle's order, µV exactly as BrainFlow
gives them (no filtering, no scaling, no resampling).

Reading. :meth:`BrainFlowSource.read` calls ``BoardShim.get_board_data()``, which copies every
sample in BrainFlow's ring buffer and empties it under a mutex: it never waits for data, costs a
copy of the new samples only, and never returns a sample twice. (``get_current_board_data(n)``
leaves the samples in the ring, so the caller would have to de-duplicate by counter or
timestamp, and could still miss samples when it polls late.)

Faults.

* lost packets: the board's package counter (0..255 on OpenBCI boards, step 2 on a Cyton +
  Daisy whose samples pair two radio packets) is followed across reads; a jump becomes
  ``Chunk.lost_samples``. A loss of 256 samples or more aliases (the counter cannot tell);
  the stall watchdog covers long outages.
* stall: no new sample for ``stall_timeout_s`` (``startup_timeout_s`` before the first one)
  raises :class:`SourceStalled`; when the board's serial port has disappeared (dongle pulled)
  it raises :class:`SourceLost` instead. BrainFlow does not report a silent Cyton: its reader
  thread just keeps waiting, so the watchdog is what notices.
* a ``BrainFlowError`` while streaming raises :class:`SourceLost`.
* playback: BrainFlow's playback board never says that a file has ended; it just stops
  producing samples. The source reads the file's package counters when it starts, follows the
  file position of every delivered sample, and raises :class:`SourceEnded` once the last one
  has been delivered (unless ``loopback`` is set). A file whose column count does not match the
  master board (BrainFlow then delivers nothing and logs one error per line) is refused at
  :meth:`~BrainFlowSource.start` with a message naming the boards it would fit.
* markers: BrainFlow overwrites the marker row of every sample it pushes (with 0, or a value
  given to ``insert_marker``), so the cue markers stored in a playback file never come out of
  ``get_board_data``. The source puts them back from its index of the file, matched by file
  position and checked against the package counter.

:meth:`BrainFlowSource.reconnect` stops the board and starts it again with exponential backoff
(0.5 s doubling to 8 s by default), blocking until it streams (give it a ``stop_event`` so that
SIGTERM still ends it); :meth:`BrainFlowSource.poll_reconnect` is the same schedule one
non-blocking step at a time, for a loop that must keep serving its sinks while the board is
away. The decoding loop uses one of them after SourceLost or SourceStalled, with the device
held in its safe state meanwhile.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from brainflow.board_shim import (
    BoardIds,
    BoardShim,
    BrainFlowError,
    BrainFlowInputParams,
    LogLevels,
)

from edge.errors import InputError
from edge.montage import Montage, MontageError, default_montage, parse_montage
from edge.source import Chunk, SourceEnded, SourceError, SourceLost, SourceStalled

__all__ = [
    "BOARD_NAMES",
    "BoardConfigError",
    "BoardConfig",
    "BrainFlowSource",
    "PackageCounter",
    "add_board_arguments",
    "board_label",
    "resolve_board",
    "sidecar_path",
]

log = logging.getLogger(__name__)

#: Board names accepted by ``--board`` / ``--master-board`` (any BrainFlow id or ``BoardIds``
#: member name works as well).
BOARD_NAMES: dict[str, int] = {
    "synthetic": int(BoardIds.SYNTHETIC_BOARD),
    "playback": int(BoardIds.PLAYBACK_FILE_BOARD),
    "cyton": int(BoardIds.CYTON_BOARD),
    "cyton-daisy": int(BoardIds.CYTON_DAISY_BOARD),
    "ganglion": int(BoardIds.GANGLION_BOARD),
}
_NAME_OF = {v: k for k, v in BOARD_NAMES.items()}

# Package counter (modulus, step) of boards whose counter we know. Cyton: the sample number of
# every packet, 0..255. Cyton + Daisy: BrainFlow joins an odd and an even packet into one
# sample and keeps the odd one's number, so the counter steps by 2. Synthetic: 0..255.
# Others (Ganglion's packet ids follow its compression scheme): loss detection off.
_COUNTERS: dict[int, tuple[int, int]] = {
    int(BoardIds.SYNTHETIC_BOARD): (256, 1),
    int(BoardIds.CYTON_BOARD): (256, 1),
    int(BoardIds.CYTON_DAISY_BOARD): (256, 2),
}
# Boards that BrainFlow opens through a serial port, and so need ``serial_port``.
_SERIAL_BOARDS = {int(BoardIds.CYTON_BOARD), int(BoardIds.CYTON_DAISY_BOARD),
                  int(BoardIds.GANGLION_BOARD)}

_LOG_LEVELS = {
    "trace": LogLevels.LEVEL_TRACE, "debug": LogLevels.LEVEL_DEBUG,
    "info": LogLevels.LEVEL_INFO, "warn": LogLevels.LEVEL_WARN,
    "error": LogLevels.LEVEL_ERROR, "off": LogLevels.LEVEL_OFF,
}


class BoardConfigError(InputError):
    """The board settings cannot work: unknown board, missing port or file, wrong rate."""


def resolve_board(board: str | int) -> int:
    """BrainFlow board id of ``board``.

    Parameters
    ----------
    board : str or int
        A name from :data:`BOARD_NAMES` (``cyton``, ``cyton-daisy``, ``ganglion``,
        ``synthetic``, ``playback``), a ``BoardIds`` member name (``CYTON_WIFI_BOARD``), or a
        BrainFlow board id (``0``, ``"-3"``).
    """
    if isinstance(board, bool):
        raise BoardConfigError(f"board {board!r}: expected a name or a BrainFlow board id")
    if isinstance(board, int):
        board_id = board
    else:
        text = str(board).strip()
        key = text.lower().replace("_", "-")
        if key in BOARD_NAMES:
            return BOARD_NAMES[key]
        try:
            board_id = int(text)
        except ValueError:
            member = text.upper().replace("-", "_")
            for cand in (member, member + "_BOARD"):
                if cand in BoardIds.__members__:
                    return int(BoardIds[cand])
            raise BoardConfigError(
                f"unknown board {board!r}: use one of {', '.join(BOARD_NAMES)}, a BrainFlow "
                "BoardIds name (e.g. CYTON_WIFI_BOARD) or a board id (e.g. 0)") from None
    if board_id not in {int(b) for b in BoardIds}:
        raise BoardConfigError(f"unknown BrainFlow board id {board_id} (BrainFlow "
                               f"{BoardShim.get_version()})")
    return board_id


def board_label(board_id: int) -> str:
    """``'cyton (0)'``, ``'CYTON_WIFI_BOARD (5)'``: a board for messages."""
    if board_id in _NAME_OF:
        return f"{_NAME_OF[board_id]} ({board_id})"
    try:
        return f"{BoardIds(board_id).name} ({board_id})"
    except ValueError:
        return f"board {board_id}"


def sidecar_path(file: str | Path) -> Path:
    """The JSON sidecar written next to a playback file by ``mi-export playback``."""
    return Path(str(file) + ".json")


@dataclass(frozen=True)
class BoardConfig:
    """Where the EEG comes from: a BrainFlow board and its parameters, validated once.

    The BrainFlow parameters keep BrainFlow's names (``BrainFlowInputParams``) and are passed
    through unchanged; empty / zero means "not set", as in BrainFlow.

    Attributes
    ----------
    board : str or int
        ``synthetic``, ``playback``, ``cyton``, ``cyton-daisy``, ``ganglion``, a ``BoardIds``
        name, or any BrainFlow board id.
    serial_port : str
        Cyton / Daisy dongle or Ganglion BLED112 port, e.g. ``/dev/ttyUSB0`` or ``/dev/openbci``.
    file : str
        Playback: the BrainFlow CSV file to play (``mi-export playback`` writes one).
    master_board : str or int or None
        Playback: the board that recorded the file (``cyton``, ``cyton-daisy``...). Default: the
        ``board_id`` in the file's JSON sidecar, if there is one.
    ip_address, ip_port, mac_address, serial_number, other_info, timeout
        BrainFlow parameters for WiFi / BLE boards.
    montage : str or sequence of (str or None) or None
        Electrode name of each EEG input, in order (see :mod:`edge.montage`). Default: the
        playback file's sidecar channels, else the board's default montage.
    loopback : bool
        Playback: start again at the end of the file instead of ending.
    stall_timeout_s : float
        No new sample for this long while streaming raises SourceStalled.
    startup_timeout_s : float
        The same, before the first sample after a start (a Cyton takes a moment).
    reconnect_initial_s, reconnect_max_s : float
        Backoff of :meth:`BrainFlowSource.reconnect`: the first delay, doubled after each
        failed attempt up to the maximum.
    reconnect_attempts : int or None
        Give up (SourceLost) after this many failed attempts; None: keep trying.
    buffer_size : int
        BrainFlow ring buffer, samples (450000 = 30 min at 250 Hz, BrainFlow's default).
    brainflow_log_level : str
        BrainFlow's own logger: trace, debug, info, warn (default), error, off.
    """

    board: str | int = "synthetic"
    serial_port: str = ""
    file: str = ""
    master_board: str | int | None = None
    ip_address: str = ""
    ip_port: int = 0
    mac_address: str = ""
    serial_number: str = ""
    other_info: str = ""
    timeout: int = 0
    montage: str | Sequence[str | None] | None = None
    loopback: bool = False
    stall_timeout_s: float = 1.0
    startup_timeout_s: float = 5.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 8.0
    reconnect_attempts: int | None = None
    buffer_size: int = 450000
    brainflow_log_level: str = "warn"
    board_id: int = field(init=False)
    master_board_id: int | None = field(init=False)
    sidecar: dict[str, Any] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        board_id = resolve_board(self.board)
        set_ = object.__setattr__
        set_(self, "board_id", board_id)
        sidecar = None
        master = None
        playback = board_id == int(BoardIds.PLAYBACK_FILE_BOARD)
        if playback:
            if not self.file:
                raise BoardConfigError("board playback needs file: the BrainFlow file to play "
                                       "(write one with mi-export playback)")
            if not Path(self.file).is_file():
                raise BoardConfigError(f"playback file {self.file}: no such file")
            sidecar = _read_sidecar(self.file)
        if self.master_board is not None and self.master_board != "":
            master = resolve_board(self.master_board)
        elif sidecar is not None and "board_id" in sidecar:
            master = int(sidecar["board_id"])
        if playback:
            if master is None:
                raise BoardConfigError(
                    f"playback file {self.file}: give master_board, the board that recorded it "
                    "(cyton or cyton-daisy); BrainFlow cannot tell from the file")
            if master in (board_id, int(BoardIds.STREAMING_BOARD)):
                raise BoardConfigError(f"master_board {board_label(master)} cannot record a "
                                       "playback file; use cyton, cyton-daisy or synthetic")
        set_(self, "master_board_id", master)
        set_(self, "sidecar", sidecar)
        if board_id in _SERIAL_BOARDS and not self.serial_port:
            raise BoardConfigError(
                f"{board_label(board_id)} needs serial_port: the dongle's port, e.g. "
                "/dev/ttyUSB0, or /dev/openbci with deploy/99-mi-edge.rules")
        for name in ("stall_timeout_s", "startup_timeout_s", "reconnect_initial_s",
                     "reconnect_max_s"):
            if not float(getattr(self, name)) > 0:
                raise BoardConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise BoardConfigError("reconnect_max_s must be >= reconnect_initial_s")
        if self.reconnect_attempts is not None and self.reconnect_attempts < 1:
            raise BoardConfigError("reconnect_attempts must be >= 1 (or None: keep trying)")
        if self.buffer_size < 1:
            raise BoardConfigError(f"buffer_size must be >= 1, got {self.buffer_size}")
        if self.brainflow_log_level not in _LOG_LEVELS:
            raise BoardConfigError(f"brainflow_log_level {self.brainflow_log_level!r}: use one "
                                   f"of {', '.join(_LOG_LEVELS)}")
        if self.montage is not None:
            set_(self, "montage", parse_montage(self.montage).names)

    @property
    def data_board_id(self) -> int:
        """The board whose rows and rate the data have (the master board for playback)."""
        if self.board_id == int(BoardIds.PLAYBACK_FILE_BOARD) or (
                self.board_id == int(BoardIds.STREAMING_BOARD)):
            assert self.master_board_id is not None
            return self.master_board_id
        return self.board_id

    @property
    def is_playback(self) -> bool:
        return self.board_id == int(BoardIds.PLAYBACK_FILE_BOARD)

    @property
    def label(self) -> str:
        if self.is_playback:
            return f"playback of {self.file} (master {board_label(self.data_board_id)})"
        port = f" on {self.serial_port}" if self.serial_port else ""
        return f"{board_label(self.board_id)}{port}"

    def input_params(self) -> BrainFlowInputParams:
        """BrainFlow's parameters object for this board."""
        p = BrainFlowInputParams()
        p.serial_port = self.serial_port
        p.file = self.file
        p.ip_address = self.ip_address
        p.ip_port = int(self.ip_port)
        p.mac_address = self.mac_address
        p.serial_number = self.serial_number
        p.other_info = self.other_info
        p.timeout = int(self.timeout)
        if self.master_board_id is not None:
            p.master_board = int(self.master_board_id)
        return p

    def resolve_montage(self) -> Montage:
        """The montage given, else the playback sidecar's channels, else the board default."""
        if self.montage is not None:
            return Montage(tuple(self.montage), "--montage")
        if self.sidecar is not None and self.sidecar.get("channels"):
            return parse_montage(list(self.sidecar["channels"]),
                                 f"channels of {sidecar_path(self.file).name}")
        board = self.data_board_id
        try:
            names = BoardShim.get_eeg_names(board)
        except BrainFlowError:
            names = None
        return default_montage(board, names, board_label(board))

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> BoardConfig:
        """Build from the options of :func:`add_board_arguments`."""
        kw: dict[str, Any] = {
            "board": args.board,
            "serial_port": args.serial_port or "",
            "file": str(args.file) if args.file else "",
            "master_board": args.master_board,
            "ip_address": args.ip_address or "",
            "ip_port": args.ip_port,
            "mac_address": args.mac_address or "",
            "serial_number": args.serial_number or "",
            "other_info": args.other_info or "",
            "timeout": args.timeout,
            "montage": args.montage,
            "loopback": args.loopback,
            "stall_timeout_s": args.stall_timeout,
        }
        kw.update(overrides)
        return cls(**kw)


def add_board_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the board options (BrainFlow's names) on a sub-command's parser."""
    g = parser.add_argument_group(
        "board", "the EEG source, with BrainFlow's parameter names (BrainFlowInputParams)")
    g.add_argument("--board", default="synthetic",
                   help="synthetic (default), playback, cyton, cyton-daisy, ganglion, or a "
                        "BrainFlow board id")
    g.add_argument("--serial-port", help="dongle port, e.g. /dev/ttyUSB0 or /dev/openbci")
    g.add_argument("--file", help="playback: BrainFlow file to play (mi-export playback)")
    g.add_argument("--master-board",
                   help="playback: board that recorded the file (default: from FILE.json)")
    g.add_argument("--ip-address", help="WiFi boards")
    g.add_argument("--ip-port", type=int, default=0, help="WiFi boards")
    g.add_argument("--mac-address", help="BLE boards")
    g.add_argument("--serial-number", help="boards found by serial number")
    g.add_argument("--other-info", help="BrainFlow other_info")
    g.add_argument("--timeout", type=int, default=0, help="BrainFlow discovery timeout, s")
    g.add_argument("--montage",
                   help="electrode on each EEG input, in order, e.g. C3,Cz,C4,FC3,FC4,CP3,CP4,"
                        "Fz ('-' for an unused input; default: the board's OpenBCI GUI "
                        "placement)")
    g.add_argument("--loopback", action="store_true", help="playback: loop the file forever")
    g.add_argument("--stall-timeout", type=float, default=1.0,
                   help="no new sample for this long is a stall fault (default 1.0 s)")


def _read_sidecar(file: str | Path) -> dict[str, Any] | None:
    path = sidecar_path(file)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BoardConfigError(f"{path}: unreadable playback sidecar ({exc})") from exc
    if not isinstance(data, dict):
        raise BoardConfigError(f"{path}: playback sidecar is not a JSON object")
    return data


class PackageCounter:
    """Follows a board's package counter and counts the samples lost between packets.

    Parameters
    ----------
    modulus : int
        The counter wraps to 0 at this value (256 on OpenBCI boards).
    step : int
        Counter increment between consecutive samples (1; 2 on a Cyton + Daisy).

    Notes
    -----
    A gap is ``(counter - previous - step) mod modulus`` counter units, i.e. that many samples
    divided by ``step``. A loss of ``modulus / step`` samples or more cannot be seen (it
    aliases); a repeated counter reads as an almost full wrap and is counted as such.
    """

    def __init__(self, modulus: int = 256, step: int = 1) -> None:
        if modulus < 2 or not 1 <= step < modulus:
            raise ValueError(f"bad counter modulus {modulus} / step {step}")
        self.modulus = int(modulus)
        self.step = int(step)
        self.last: int | None = None

    def reset(self) -> None:
        """Forget the last counter (after a restart the first sample has no predecessor)."""
        self.last = None

    def update(self, counters: np.ndarray) -> np.ndarray:
        """Samples lost just before each new sample.

        Parameters
        ----------
        counters : ndarray, shape (n_samples,)
            The package-counter row of the new samples.

        Returns
        -------
        ndarray of int64, shape (n_samples,)
            Lost samples before each sample (0 where the counter advanced by ``step``).
        """
        c = np.rint(np.nan_to_num(np.asarray(counters, dtype=np.float64))).astype(np.int64)
        c %= self.modulus
        if c.size == 0:
            return np.zeros(0, dtype=np.int64)
        first_prev = (c[0] - self.step) if self.last is None else self.last
        prev = np.concatenate(([first_prev], c[:-1]))
        units = (c - prev - self.step) % self.modulus
        self.last = int(c[-1])
        return -(-units // self.step)  # ceil: a partial step still means a lost sample


@dataclass
class _PlaybackIndex:
    """Package counter and marker of every sample of a playback file, in file order."""

    counters: np.ndarray  # int64, shape (n_samples,)
    markers: np.ndarray  # float64, shape (n_samples,)

    @property
    def n_samples(self) -> int:
        return int(self.counters.size)


def _boards_with_rows(n_rows: int) -> list[str]:
    out = []
    for bid in (BoardIds.CYTON_BOARD, BoardIds.CYTON_DAISY_BOARD, BoardIds.GANGLION_BOARD,
                BoardIds.SYNTHETIC_BOARD):
        try:
            if BoardShim.get_num_rows(int(bid)) == n_rows:
                out.append(board_label(int(bid)))
        except BrainFlowError:
            continue
    return out


def read_playback_index(file: str | Path, master_board: int) -> _PlaybackIndex:
    """Read a playback file the way BrainFlow's playback board does, keeping counter and marker.

    BrainFlow splits each line on tabs (on commas when the line has no tab) and skips, with an
    error in its log, every line whose field count is not ``get_num_rows(master_board)``.

    Raises
    ------
    BoardConfigError
        When no line has the master board's row count (BrainFlow would deliver nothing), naming
        the boards whose row count the file has.
    """
    n_rows = BoardShim.get_num_rows(master_board)
    counter_row = BoardShim.get_package_num_channel(master_board)
    marker_row = BoardShim.get_marker_channel(master_board)
    counters: list[float] = []
    markers: list[float] = []
    first_width = None
    with open(file, encoding="ascii", errors="replace") as fh:
        for line in fh:
            sep = "\t" if "\t" in line else ","
            parts = [p for p in line.split(sep) if p != "\n"]
            if first_width is None and parts:
                first_width = len(parts)
            if len(parts) != n_rows:
                continue
            try:
                counters.append(float(parts[counter_row]))
                markers.append(float(parts[marker_row]))
            except ValueError:
                continue
    if not counters:
        if first_width is None:
            raise BoardConfigError(f"playback file {file} is empty")
        fits = _boards_with_rows(first_width)
        hint = (f"; {first_width} rows fit {' or '.join(fits)}: play it with that master_board"
                if fits else "")
        raise BoardConfigError(
            f"playback file {file} has {first_width} values per sample but master_board "
            f"{board_label(master_board)} has {n_rows} rows: BrainFlow would skip every line "
            f"and deliver no sample{hint}")
    c = np.rint(np.nan_to_num(np.array(counters))).astype(np.int64)
    return _PlaybackIndex(counters=c, markers=np.array(markers, dtype=np.float64))


class BrainFlowSource:
    """A BrainFlow board delivering the bundle's channels.

    Parameters
    ----------
    config : BoardConfig
        The board and its parameters.
    channel_names : sequence of str, length n_channels
        The bundle's channels; rows are delivered in this order.
    sfreq : float
        The bundle's sampling rate; the board must sample at this rate (no resampling here).
    clock : callable, optional
        Monotonic time in s (the stall watchdog); injectable for tests.
    sleep : callable, optional
        Sleep used by :meth:`reconnect` between attempts; injectable for tests.

    Raises
    ------
    BoardConfigError
        The board samples at another rate than the bundle.
    MontageError
        A bundle channel is on no input of the montage.
    """

    def __init__(self, config: BoardConfig, channel_names: Sequence[str], sfreq: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.channel_names = list(channel_names)
        self.sfreq = float(sfreq)
        self._clock = clock
        self._sleep = sleep
        board = config.data_board_id
        self.board_id = config.board_id
        self.data_board_id = board
        self.board_sfreq = float(BoardShim.get_sampling_rate(board))
        if not np.isclose(self.board_sfreq, self.sfreq):
            raise BoardConfigError(
                f"{board_label(board)} samples at {self.board_sfreq:g} Hz but the bundle was "
                f"trained at {self.sfreq:g} Hz; the runtime does not resample: retrain, or export "
                f"the bundle at the board's rate (mi-export ... --sfreq {self.board_sfreq:g})")
        eeg_rows = BoardShim.get_eeg_channels(board)
        self.montage = config.resolve_montage()
        self.montage.check_inputs(len(eeg_rows), board_label(board))
        try:
            inputs = self.montage.indices(self.channel_names)
        except MontageError as exc:
            raise MontageError(f"{config.label}: {exc}") from None
        self.rows = [eeg_rows[i] for i in inputs]
        self.timestamp_row = BoardShim.get_timestamp_channel(board)
        self.marker_row = BoardShim.get_marker_channel(board)
        try:
            self.counter_row: int | None = BoardShim.get_package_num_channel(board)
        except BrainFlowError:
            self.counter_row = None
        spec = _COUNTERS.get(board)
        self._counter = PackageCounter(*spec) if spec and self.counter_row is not None else None
        if self._counter is None:
            log.info("%s: package counter not known, lost-sample detection off",
                     board_label(board))
        self._board: BoardShim | None = None
        self._index: _PlaybackIndex | None = None
        self._pos = 0
        self._last_data = 0.0
        self._delay = config.reconnect_initial_s
        self._due: float | None = None  # poll_reconnect: when the next attempt is due
        self._attempts = 0
        self.total_samples = 0
        self.total_lost = 0
        log.debug("%s: bundle channels %s on board rows %s (montage %s)", config.label,
                  self.channel_names, self.rows, self.montage.source)

    @classmethod
    def from_bundle(cls, bundle: Any, config: BoardConfig, **kwargs: Any) -> BrainFlowSource:
        """The source for a verified bundle (``edge.bundle.Bundle``): its channels and rate."""
        return cls(config, bundle.channels, bundle.sfreq, **kwargs)

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self._board is not None

    def start(self) -> None:
        """Prepare the session and start streaming.

        Raises
        ------
        SourceLost
            BrainFlow could not open or start the board (the message carries its error).
        BoardConfigError
            A playback file that the master board cannot play.
        """
        if self._board is not None:
            return
        cfg = self.config
        BoardShim.set_log_level(int(_LOG_LEVELS[cfg.brainflow_log_level]))
        if cfg.is_playback:
            self._index = read_playback_index(cfg.file, self.data_board_id)
            log.info("%s: %d samples (%.1f s)", cfg.label, self._index.n_samples,
                     self._index.n_samples / self.board_sfreq)
        board = None
        try:
            board = BoardShim(cfg.board_id, cfg.input_params())
            board.prepare_session()
            if cfg.is_playback:
                board.config_board("loopback_true" if cfg.loopback else "loopback_false")
            board.start_stream(int(cfg.buffer_size))
        except BrainFlowError as exc:
            if board is not None:
                _release_quietly(board)
            raise SourceLost(f"cannot start {cfg.label}: {exc}{_hint(cfg)}") from exc
        self._board = board
        self._pos = 0
        self._last_data = self._clock()
        self.total_samples = 0
        if self._counter is not None:
            self._counter.reset()
        log.info("streaming from %s at %g Hz", cfg.label, self.board_sfreq)

    def stop(self) -> None:
        """Stop streaming and release the board; safe to call twice."""
        board, self._board = self._board, None
        if board is None:
            return
        _release_quietly(board)
        log.info("stopped %s", self.config.label)

    def __enter__(self) -> BrainFlowSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- data ---------------------------------------------------------------------------------

    def read(self) -> Chunk:
        """The samples that arrived since the last read (possibly none); never waits.

        Returns
        -------
        Chunk
            ``data`` shape (n_channels, n_samples) in µV, bundle order; ``timestamps`` and
            ``markers`` shape (n_samples,); ``lost_samples`` from the package counter.

        Raises
        ------
        SourceStalled, SourceLost, SourceEnded
            See the module docstring.
        """
        board = self._board
        if board is None:
            raise SourceError(f"{self.config.label}: read() before start()")
        try:
            raw = board.get_board_data()
        except BrainFlowError as exc:
            raise SourceLost(f"{self.config.label}: BrainFlow error while streaming: {exc}") \
                from exc
        now = self._clock()
        n = int(raw.shape[1])
        if n == 0:
            self._check_idle(now)
            return Chunk(data=np.zeros((len(self.rows), 0)), timestamps=np.zeros(0),
                         markers=np.zeros(0), lost_samples=0)
        self._last_data = now
        self._delay = self.config.reconnect_initial_s  # data flows again: backoff starts over
        gaps = (self._counter.update(raw[self.counter_row]) if self._counter is not None
                else np.zeros(n, dtype=np.int64))
        markers = raw[self.marker_row].copy()
        if self._index is not None:
            restored = self._follow_file(raw[self.counter_row], gaps)
            if restored is not None:
                markers = np.where(markers != 0, markers, restored)
        lost = int(gaps.sum())
        if lost:
            log.warning("%s: %d sample(s) lost (package counter jumped)", self.config.label, lost)
        self.total_samples += n
        self.total_lost += lost
        return Chunk(data=np.ascontiguousarray(raw[self.rows]),
                     timestamps=raw[self.timestamp_row].copy(), markers=markers,
                     lost_samples=lost)

    def insert_marker(self, value: float) -> None:
        """Ask BrainFlow to put ``value`` (non-zero) in the marker row of the next sample."""
        if self._board is None:
            raise SourceError(f"{self.config.label}: insert_marker() before start()")
        try:
            self._board.insert_marker(float(value))
        except BrainFlowError as exc:
            raise SourceLost(f"{self.config.label}: insert_marker failed: {exc}") from exc

    def _follow_file(self, counters: np.ndarray, gaps: np.ndarray) -> np.ndarray | None:
        """File position of each new sample; returns their file markers, fixes ``gaps``.

        BrainFlow plays a file line by line, so each delivered sample is the next line; its
        package counter must be that line's. A counter gap that is in the file (a recording
        with dropped packets) is reported as lost, as the board reported it then. At a loopback
        wrap the counter jumps back to the file's first value although nothing was lost: that
        gap is cleared. A sample that is not the next line (BrainFlow's ring buffer overflowed,
        the file changed) ends the following: markers and end detection are switched off.
        """
        index = self._index
        assert index is not None
        n_file = index.n_samples
        c = np.rint(np.nan_to_num(counters)).astype(np.int64)
        out = np.zeros(c.size)
        pos = self._pos
        for k in range(c.size):
            if pos >= n_file and self.config.loopback:
                pos = 0
                gaps[k] = 0
            if pos >= n_file or index.counters[pos] != c[k]:
                log.warning("%s: delivered sample %d (counter %d) is not the next line of the "
                            "file; cue markers and end detection off", self.config.label,
                            self.total_samples + k, c[k])
                self._index = None
                return None
            out[k] = index.markers[pos]
            pos += 1
        self._pos = pos
        return out

    def _check_idle(self, now: float) -> None:
        cfg = self.config
        if (cfg.is_playback and not cfg.loopback and self._index is not None
                and self._pos >= self._index.n_samples):
            raise SourceEnded(f"{cfg.label}: played to its end ({self._index.n_samples} "
                              f"samples, {self._index.n_samples / self.board_sfreq:.1f} s)")
        limit = cfg.stall_timeout_s if self.total_samples else cfg.startup_timeout_s
        idle = now - self._last_data
        if idle <= limit:
            return
        if cfg.serial_port and cfg.board_id in _SERIAL_BOARDS and not os.path.exists(
                cfg.serial_port):
            raise SourceLost(f"{cfg.label}: serial port {cfg.serial_port} has disappeared "
                             "(dongle unplugged?)")
        if cfg.is_playback and not cfg.loopback and self.total_samples:
            # the playback board only falls silent at the end of its file
            raise SourceEnded(f"{cfg.label}: no sample for {idle:.1f} s after "
                              f"{self.total_samples}: the file has ended")
        if self.total_samples == 0:
            what = f"no sample {idle:.1f} s after start (startup timeout {limit:g} s)"
            hint = (f"; check that master_board ({board_label(self.data_board_id)}) is the board "
                    "that recorded the file" if cfg.is_playback else _hint(cfg))
        else:
            what = (f"no new sample for {idle:.1f} s (stall timeout {limit:g} s) after "
                    f"{self.total_samples} samples")
            hint = _hint(cfg)
        raise SourceStalled(f"{cfg.label}: {what}{hint}")

    # -- recovery -----------------------------------------------------------------------------

    def reconnect(self, stop_event: threading.Event | None = None) -> int:
        """Stop, then start again with exponential backoff until the board streams.

        The delay before each attempt starts at ``reconnect_initial_s`` and doubles after each
        failed attempt up to ``reconnect_max_s``. It carries over between calls until a read
        returns data, so a board that starts but never streams is not hammered either.

        Parameters
        ----------
        stop_event : threading.Event, optional
            Set it (e.g. from a SIGTERM handler) to abandon the attempts.

        Returns
        -------
        int
            The number of attempts it took.

        Raises
        ------
        SourceLost
            After ``reconnect_attempts`` failed attempts, or when ``stop_event`` is set.
        BoardConfigError
            A configuration problem that retrying cannot fix.
        """
        cfg = self.config
        self.stop()
        self._due = None
        attempt = 0
        while True:
            attempt += 1
            delay = self._delay
            self._delay = min(self._delay * 2.0, cfg.reconnect_max_s)
            log.info("%s: reconnect attempt %d in %.2f s", cfg.label, attempt, delay)
            if stop_event is not None:
                if stop_event.wait(delay):
                    raise SourceLost(f"{cfg.label}: reconnect cancelled")
            else:
                self._sleep(delay)
            try:
                self.start()
            except SourceError as exc:
                log.warning("%s: reconnect attempt %d failed: %s", cfg.label, attempt, exc)
                if cfg.reconnect_attempts is not None and attempt >= cfg.reconnect_attempts:
                    raise SourceLost(f"{cfg.label}: gave up after {attempt} reconnect attempts: "
                                     f"{exc}") from exc
                continue
            log.info("%s: reconnected after %d attempt(s)", cfg.label, attempt)
            return attempt


    def poll_reconnect(self) -> bool:
        """One non-blocking step of :meth:`reconnect`, for a loop that must keep running.

        The first call after a fault stops the board and schedules an attempt after the
        current backoff delay; later calls return at once until that time has come, then try
        :meth:`start` once (rescheduling with the doubled delay when it fails). Between calls
        the loop keeps serving its sinks (FAULT restated, heartbeats) and its stop request.

        Returns
        -------
        bool
            True when the board is streaming again (the schedule is cleared).

        Raises
        ------
        SourceLost
            After ``reconnect_attempts`` failed attempts.
        BoardConfigError
            A configuration problem that retrying cannot fix.
        """
        cfg = self.config
        now = self._clock()
        if self._due is None:
            self.stop()
            self._attempts = 0
            self._due = now + self._delay
            log.info("%s: reconnect attempt in %.2f s", cfg.label, self._delay)
            self._delay = min(self._delay * 2.0, cfg.reconnect_max_s)
            return False
        if now < self._due:
            return False
        self._attempts += 1
        try:
            self.start()
        except SourceError as exc:
            log.warning("%s: reconnect attempt %d failed: %s", cfg.label, self._attempts, exc)
            if cfg.reconnect_attempts is not None and self._attempts >= cfg.reconnect_attempts:
                self._due = None
                raise SourceLost(f"{cfg.label}: gave up after {self._attempts} reconnect "
                                 f"attempts: {exc}") from exc
            self._due = now + self._delay
            self._delay = min(self._delay * 2.0, cfg.reconnect_max_s)
            return False
        log.info("%s: reconnected after %d attempt(s)", cfg.label, self._attempts)
        self._due = None
        return True


def _release_quietly(board: BoardShim) -> None:
    try:
        board.stop_stream()
    except BrainFlowError as exc:
        log.debug("stop_stream: %s", exc)
    try:
        board.release_session()
    except BrainFlowError as exc:
        log.debug("release_session: %s", exc)
    # BoardShim.__del__ releases the session of its (board id, parameters) if one is prepared,
    # even a newer one opened by a reconnect, whenever the old object is collected (a traceback
    # can keep it alive for a while). Detach the released object from that key.
    board.board_id = int(BoardIds.NO_BOARD)


def _hint(cfg: BoardConfig) -> str:
    if cfg.board_id in _SERIAL_BOARDS:
        port = cfg.serial_port or "a USB port"
        return (f"; check that the board is switched on, the dongle is in {port}, and the user "
                "is in group dialout (deploy/README.md)")
    return ""
