"""Where samples come from: the interface between acquisition and the decoding loop.

A source delivers blocks of samples of the bundle's channels, in the bundle's order, at the
bundle's rate, each sample with its acquisition timestamp and marker. Two implementations:
``edge.brainflow_source.BrainFlowSource`` (any BrainFlow board, synthetic and playback included) and
``edge.replay.RecordingSource`` (a recording replayed as fast as possible).

Faults are reported in the chunks (``lost_samples``) or raised as :class:`SourceError`
subclasses; the loop turns both into FAULT frames and keeps the device in its safe state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge.errors import MiEdgeError

__all__ = ["Chunk", "Source", "SourceError", "SourceStalled", "SourceLost", "SourceEnded"]


@dataclass
class Chunk:
    """New samples since the previous read.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_samples)
        µV, float64, rows in the bundle's channel order.
    timestamps : ndarray, shape (n_samples,)
        Acquisition time of each sample (BrainFlow's timestamp row: Unix seconds), or the
        recording time for replays.
    markers : ndarray, shape (n_samples,)
        Marker channel (0 = none; cue codes in playback files and replays).
    lost_samples : int
        Samples the board dropped before this chunk (from its package counter).
    """

    data: np.ndarray
    timestamps: np.ndarray
    markers: np.ndarray
    lost_samples: int = 0
    info: dict[str, object] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[1])


class SourceError(MiEdgeError):
    """The source cannot deliver samples."""

    exit_code = 5


class SourceStalled(SourceError):
    """No new samples for longer than the stall timeout."""


class SourceLost(SourceError):
    """The board or its port went away (it may come back: the caller reconnects)."""


class SourceEnded(SourceError):
    """A finite source (playback file, recording) has no more samples."""


class Source(Protocol):
    sfreq: float
    channel_names: list[str]

    def start(self) -> None:
        """Connect and start streaming (raises SourceError with a clear message)."""

    def read(self) -> Chunk:
        """Return the samples that arrived since the last read (possibly none), never blocking
        longer than a few ms. Raises SourceError subclasses on faults."""

    def poll_reconnect(self) -> bool:
        """One non-blocking step of getting the source back after SourceLost/SourceStalled:
        True once it delivers again (a source with nothing to reconnect returns True at
        once). Raises SourceError when it gives up."""

    def stop(self) -> None:
        """Stop streaming and release the board; safe to call twice."""
