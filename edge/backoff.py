"""Exponential back-off: when the next attempt to reopen something may be made.

One schedule serves the board (:class:`edge.brainflow_source.BrainFlowSource`) and the serial
link (:class:`edge.serial_sink.SerialTransport`): the wait before an attempt starts at ``initial_s``
and doubles after each failed attempt up to ``max_s``; :meth:`Backoff.reset` starts it over
once the thing works again. Pure bookkeeping: the caller reads its clock and passes ``now``.
"""

from __future__ import annotations

__all__ = ["Backoff"]


class Backoff:
    """Exponential back-off schedule.

    Parameters
    ----------
    initial_s : float
        Wait before the first attempt after a failure, s.
    max_s : float
        The longest wait, s.

    Attributes
    ----------
    delay : float
        The wait the next :meth:`failed` (or :meth:`schedule`) will impose, s.
    due : float or None
        When the next attempt may be made (None: now, nothing scheduled).
    """

    def __init__(self, initial_s: float, max_s: float) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError(f"back-off {initial_s} s .. {max_s} s: expected 0 < initial <= max")
        self.initial_s = float(initial_s)
        self.max_s = float(max_s)
        self.delay = self.initial_s
        self.due: float | None = None

    @property
    def pending(self) -> bool:
        """An attempt is scheduled (a failure happened and nothing cleared it since)."""
        return self.due is not None

    def ready(self, now: float) -> bool:
        """May an attempt be made at ``now``?"""
        return self.due is None or now >= self.due

    def schedule(self, now: float) -> float:
        """Next attempt after the current delay, without lengthening it (a first loss)."""
        self.due = now + self.delay
        return self.delay

    def failed(self, now: float) -> float:
        """An attempt failed (or a fault began) at ``now``: the next one waits the current
        delay, and the delay after it doubles (up to ``max_s``). Returns the wait, s."""
        wait = self.schedule(now)
        self.delay = min(self.delay * 2.0, self.max_s)
        return wait

    def clear(self) -> None:
        """Nothing scheduled any more; the delay is kept (until :meth:`reset`)."""
        self.due = None

    def reset(self) -> None:
        """It works again: the next failure waits ``initial_s``."""
        self.delay = self.initial_s
        self.due = None
