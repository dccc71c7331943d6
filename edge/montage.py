"""Which electrode sits on which board input.

A BrainFlow board knows its EEG inputs only by row number (``BoardShim.get_eeg_channels``); a
bundle knows its channels only by electrode name. A :class:`Montage` joins the two: one name per
EEG input, in input order (``None`` for an input that carries no electrode the runtime uses).

Defaults per board (where the user does not give ``--montage``):

* Cyton (8 inputs): the OpenBCI GUI default ``Fp1 Fp2 C3 C4 P7 P8 O1 O2``;
* Cyton + Daisy (16 inputs): the same, then ``F7 F8 F3 F4 T7 T8 P3 P4``;
* other boards: BrainFlow's ``eeg_names`` for the board when it has them (the synthetic board
  does); a board without names (the Ganglion) needs an explicit montage.

Names are matched case-insensitively (``CZ`` == ``Cz``); the bundle's spelling is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.errors import InputError

__all__ = [
    "MontageError",
    "Montage",
    "CYTON_MONTAGE",
    "CYTON_DAISY_MONTAGE",
    "default_montage",
    "parse_montage",
]

#: OpenBCI GUI default electrode placement of the Cyton's eight inputs (N1P..N8P).
CYTON_MONTAGE: tuple[str, ...] = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")
#: Cyton + Daisy: the Cyton's eight, then the Daisy's eight inputs.
CYTON_DAISY_MONTAGE: tuple[str, ...] = CYTON_MONTAGE + (
    "F7", "F8", "F3", "F4", "T7", "T8", "P3", "P4")

# BrainFlow board ids (``BoardIds``), kept as plain ints so that this module needs no BrainFlow.
_CYTON, _CYTON_DAISY, _CYTON_WIFI, _CYTON_DAISY_WIFI = 0, 2, 5, 6
_DEFAULTS: dict[int, tuple[str, ...]] = {
    _CYTON: CYTON_MONTAGE,
    _CYTON_WIFI: CYTON_MONTAGE,
    _CYTON_DAISY: CYTON_DAISY_MONTAGE,
    _CYTON_DAISY_WIFI: CYTON_DAISY_MONTAGE,
}

#: Spellings of an unused input in a montage given on the command line.
UNUSED = ("", "-", "_", "none")


class MontageError(InputError):
    """A montage is malformed or lacks a channel the bundle needs."""


@dataclass(frozen=True)
class Montage:
    """Electrode names of a board's EEG inputs, in input order.

    Attributes
    ----------
    names : tuple of (str or None)
        ``names[i]`` is the electrode on EEG input ``i`` (the ``i``-th row of
        ``BoardShim.get_eeg_channels``); ``None`` for an unused input. May be shorter than the
        board's input count: the remaining inputs are unused.
    source : str
        Where the names came from (``"cyton default"``, ``"--montage"``, a sidecar file...), for
        error messages and logs.
    """

    names: tuple[str | None, ...]
    source: str = "given"

    def __post_init__(self) -> None:
        if not any(self.names):
            raise MontageError(f"montage ({self.source}) names no electrode")
        seen: dict[str, str] = {}
        dup = []
        for name in self.names:
            if name is None:
                continue
            key = name.lower()
            if key in seen:
                dup.append(name)
            seen[key] = name
        if dup:
            raise MontageError(
                f"montage ({self.source}) names {', '.join(dup)} twice: give each electrode on "
                "one input only")

    def __len__(self) -> int:
        return len(self.names)

    def check_inputs(self, n_inputs: int, board: str) -> None:
        """Refuse a montage with more names than the board has EEG inputs."""
        if len(self.names) > n_inputs:
            raise MontageError(
                f"montage ({self.source}) names {len(self.names)} inputs but {board} has "
                f"{n_inputs} EEG inputs: give at most {n_inputs} names, one per input in order")

    def indices(self, channels: Sequence[str]) -> list[int]:
        """Input index of each channel, in the order given.

        Parameters
        ----------
        channels : sequence of str, length n_channels
            Electrode names (the bundle's channels).

        Returns
        -------
        list of int, length n_channels
            Index into the board's EEG inputs (0-based) of each channel.

        Raises
        ------
        MontageError
            Naming every channel that no input carries, and what the montage has.
        """
        lookup = {n.lower(): i for i, n in enumerate(self.names) if n is not None}
        missing = [ch for ch in channels if ch.lower() not in lookup]
        if missing:
            have = ", ".join(n if n is not None else "-" for n in self.names)
            raise MontageError(
                f"the bundle needs channel(s) {', '.join(missing)} but the montage "
                f"({self.source}: {have}) has no input for them; give the electrode on each "
                "board input with --montage NAME,NAME,... (one per EEG input, in order, '-' for "
                "an unused input) or retrain the bundle on the channels the headset has")
        return [lookup[ch.lower()] for ch in channels]

    def to_list(self) -> list[str | None]:
        return list(self.names)


def parse_montage(spec: str | Sequence[str | None], source: str = "--montage") -> Montage:
    """Build a montage from ``"C3,Cz,C4,-,..."`` or a list of names.

    Parameters
    ----------
    spec : str or sequence of (str or None)
        Comma- or space-separated names, one per EEG input in order; ``-``, ``_``, ``none`` or an
        empty field (or ``None`` in a list) marks an unused input.
    source : str
        Named in error messages.
    """
    if isinstance(spec, str):
        fields = spec.split(",") if "," in spec else spec.split()
    else:
        fields = list(spec)
    names: list[str | None] = []
    for f in fields:
        name = None if f is None else str(f).strip()
        names.append(None if name is None or name.lower() in UNUSED else name)
    while names and names[-1] is None:
        names.pop()
    if not names:
        raise MontageError(f"montage ({source}) {spec!r} names no electrode")
    return Montage(tuple(names), source)


def default_montage(board_id: int, eeg_names: Sequence[str] | None = None,
                    board_name: str | None = None) -> Montage:
    """The montage a board gets when none is given.

    Parameters
    ----------
    board_id : int
        BrainFlow board id of the board that produces the data (the master board for playback).
    eeg_names : sequence of str, optional
        BrainFlow's ``eeg_names`` for that board, used when there is no OpenBCI default.
    board_name : str, optional
        For messages.
    """
    label = board_name or f"board {board_id}"
    if board_id in _DEFAULTS:
        return Montage(_DEFAULTS[board_id], f"{label} default (OpenBCI GUI)")
    if eeg_names:
        return Montage(tuple(eeg_names), f"{label} default (BrainFlow eeg_names)")
    raise MontageError(
        f"{label} has no default electrode montage: give one with --montage NAME,NAME,... "
        "(one electrode name per EEG input, in input order)")
