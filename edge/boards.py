"""The EEG boards mi-edge reads through BrainFlow, and the settings of one: :class:`BoardConfig`.

Board names (``cyton``, ``cyton-daisy``, ``ganglion``, ``synthetic``, ``playback``), BrainFlow
ids and ``BoardIds`` names all resolve to a BrainFlow board id; :class:`BoardConfig` holds the
board and its ``BrainFlowInputParams`` under BrainFlow's own names, validated once. The
command-line options that build one are in :mod:`edge.cli_args`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainflow.board_shim import (
    BoardIds,
    BoardShim,
    BrainFlowError,
    BrainFlowInputParams,
    LogLevels,
)

from edge.errors import InputError
from edge.montage import Montage, default_montage, parse_montage

__all__ = [
    "BOARD_NAMES",
    "COUNTERS",
    "LOG_LEVELS",
    "SERIAL_BOARDS",
    "BoardConfigError",
    "BoardConfig",
    "board_label",
    "resolve_board",
    "sidecar_path",
]

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
COUNTERS: dict[int, tuple[int, int]] = {
    int(BoardIds.SYNTHETIC_BOARD): (256, 1),
    int(BoardIds.CYTON_BOARD): (256, 1),
    int(BoardIds.CYTON_DAISY_BOARD): (256, 2),
}
# Boards that BrainFlow opens through a serial port, and so need ``serial_port``.
SERIAL_BOARDS = {int(BoardIds.CYTON_BOARD), int(BoardIds.CYTON_DAISY_BOARD),
                  int(BoardIds.GANGLION_BOARD)}

LOG_LEVELS = {
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
        if board_id == int(BoardIds.STREAMING_BOARD):
            if master is None:
                raise BoardConfigError(
                    "board streaming needs master_board: the board whose stream it receives "
                    "(cyton, cyton-daisy, synthetic), and ip_address/ip_port of the stream")
            if master == board_id:
                raise BoardConfigError("master_board cannot be the streaming board itself")
        set_(self, "master_board_id", master)
        set_(self, "sidecar", sidecar)
        if board_id in SERIAL_BOARDS and not self.serial_port:
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
        if self.brainflow_log_level not in LOG_LEVELS:
            raise BoardConfigError(f"brainflow_log_level {self.brainflow_log_level!r}: use one "
                                   f"of {', '.join(LOG_LEVELS)}")
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

    def connection_hint(self) -> str:
        """What to check when a serial board does not answer ('' for other boards)."""
        if self.board_id in SERIAL_BOARDS:
            port = self.serial_port or "a USB port"
            return (f"; check that the board is switched on, the dongle is in {port}, and the "
                    "user is in group dialout (deploy/README.md)")
        return ""

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

