"""A BrainFlow playback file as the runtime follows it: its package counters and cue markers.

BrainFlow's playback board never says that a file has ended and overwrites the marker row of
every sample it delivers; :func:`read_playback_index` reads the file the way BrainFlow does so
that :class:`edge.brainflow_source.BrainFlowSource` can follow the file position of each
delivered sample (end detection, cue markers put back). :class:`PackageCounter` turns a
board's package counter into lost samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from brainflow.board_shim import BoardIds, BoardShim, BrainFlowError

from edge.boards import BoardConfigError, board_label

__all__ = ["PackageCounter", "PlaybackIndex", "follow_file", "read_playback_index"]


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
class PlaybackIndex:
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


def read_playback_index(file: str | Path, master_board: int) -> PlaybackIndex:
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
    return PlaybackIndex(counters=c, markers=np.array(markers, dtype=np.float64))



def follow_file(index: PlaybackIndex, pos: int, counters: np.ndarray, gaps: np.ndarray,
                loopback: bool) -> tuple[np.ndarray | None, int]:
    """File position of each newly delivered sample: their file markers, and ``gaps`` fixed.

    BrainFlow plays a file line by line, so each delivered sample is the next line; its
    package counter must be that line's. A counter gap that is in the file (a recording with
    dropped packets) is reported as lost, as the board reported it then. At a loopback wrap the
    counter jumps back to the file's first value although nothing was lost: that gap is cleared
    (in place). A sample that is not the next line (BrainFlow's ring buffer overflowed, the
    file changed) ends the following.

    Parameters
    ----------
    index : PlaybackIndex
    pos : int
        File line of the next sample to be delivered.
    counters : ndarray, shape (n_samples,)
        Package-counter row of the new samples.
    gaps : ndarray of int64, shape (n_samples,)
        Lost samples before each new sample (from :class:`PackageCounter`); updated in place.
    loopback : bool
        The file starts again at its end.

    Returns
    -------
    markers : ndarray, shape (n_samples,) or None
        The file's marker of each new sample; None when a sample is not the next line.
    pos : int
        The new file position, or the index of the first sample that is not the next line.
    """
    n_file = index.n_samples
    c = np.rint(np.nan_to_num(counters)).astype(np.int64)
    out = np.zeros(c.size)
    for k in range(c.size):
        if pos >= n_file and loopback:
            pos = 0
            gaps[k] = 0
        if pos >= n_file or index.counters[pos] != c[k]:
            return None, k
        out[k] = index.markers[pos]
        pos += 1
    return out, pos
