"""Observers of a run: what a profiler, a view or a calibration recorder subscribes to.

The runtime (:class:`edge.loop.Runtime`) calls ``on_read`` after every successful read and
``on_hop`` after the sinks got a hop's output; the serial sink
(:meth:`edge.serial_sink.SerialSink.subscribe`) calls ``on_write`` after each frame written. Without
observers the loop pays one truth test per read and per hop.

Markers: a chunk's ``markers`` (cue codes of a playback file or a replay, 0 = none) reach
observers through ``on_read`` with the run-wide index of the chunk's first sample, so sample
``first_sample + i`` is at stream time ``(first_sample + i) / sfreq`` (the ``t`` of the hops).
That is where calibration and rest scoring find their cues; the ring buffer holds signal and
timestamps only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.decision import DecisionOutput
    from edge.ringbuffer import RingBuffer
    from edge.source import Chunk

__all__ = ["RunObserver"]


class RunObserver:
    """Base observer: every callback does nothing; override those you need.

    Attributes
    ----------
    window_samples : int
        The longest window the observer copies out of the ring buffer in ``on_hop``; the
        runtime sizes the ring for it.
    """

    window_samples: int = 0

    def on_read(self, chunk: Chunk, first_sample: int, t_begin: float, t_end: float) -> None:
        """A read returned ``chunk`` (possibly empty) between ``t_begin`` and ``t_end``
        (``time.perf_counter``); its first sample is the run's ``first_sample``-th."""

    def on_hop(self, ring: RingBuffer, out: DecisionOutput, t_decode: float, decode_s: float,
               t_decided: float) -> None:
        """A hop was decoded (starting at ``t_decode``, for ``decode_s`` s), decided by
        ``t_decided`` (``perf_counter``), and its output ``out`` handed to every sink."""

    def on_write(self, t_begin: float, t_end: float) -> None:
        """The serial sink wrote a frame between ``t_begin`` and ``t_end`` (``perf_counter``)."""
