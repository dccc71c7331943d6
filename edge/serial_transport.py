"""The serial port under the serial sink: open, reopen with backoff, write, and the transmit
backlog (bytes written that the device has not taken yet), so the sink never queues a command
behind older output. A pseudo-terminal reports no backlog (Linux answers TIOCOUTQ on a pty slave
with 0): tests give the transport a :class:`TransmitQueue` that reads the pty master instead.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from edge.backoff import Backoff

__all__ = ["SerialTransport", "TransmitQueue"]

log = logging.getLogger(__name__)


class TransmitQueue(Protocol):
    """What the transport asks about bytes it wrote that the device has not taken yet."""

    def pending(self) -> int | None:
        """Bytes written and not yet taken by the device (None: cannot tell)."""

    def discard(self) -> None:
        """Throw those bytes away."""


def _is_pty(fd: int) -> bool:
    """A Unix98 pseudo-terminal slave (majors 136..143)."""
    try:
        return 136 <= os.major(os.fstat(fd).st_rdev) <= 143
    except (OSError, ValueError):
        return False


class SerialTransport:
    """A serial port that may vanish: open, write, and reopen no faster than the back-off.

    Parameters
    ----------
    port : str
        Serial device (``/dev/ttyUSB0``, ``/dev/mi-bridge``, a pseudo-terminal).
    baudrate : int
    backoff_s : (float, float)
        First and longest wait between reopen attempts of a vanished port.
    clock : callable
        Monotonic time, s.
    queue : TransmitQueue, optional
        Where the transmit backlog is read and discarded; default the port itself (pyserial
        ``out_waiting`` and ``reset_output_buffer``).
    """

    def __init__(self, port: str, baudrate: int = 115200,
                 backoff_s: tuple[float, float] = (0.25, 4.0),
                 clock: Callable[[], float] = time.monotonic,
                 queue: TransmitQueue | None = None) -> None:
        self.port = port
        self.baudrate = baudrate
        self.backoff = Backoff(*backoff_s)
        self._clock = clock
        self._serial: Any = None
        self.queue = queue
        self.last_write = 0.0  # clock() of the last successful write
        self.reconnects = 0

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        """Open the port (raises SerialException / OSError)."""
        import serial  # pyserial

        self._serial = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=0.5)
        if self.queue is None and _is_pty(self._serial.fileno()):
            log.info("%s is a pseudo-terminal: its transmit backlog cannot be seen from this "
                     "side; only the device's age rule refuses output that waited", self.port)

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._serial = None

    def reopen(self) -> bool:
        """One attempt to reopen a vanished port, if the back-off allows it now."""
        now = self._clock()
        if not self.backoff.ready(now):
            return False
        try:
            self.open()
        except Exception as exc:  # noqa: BLE001 - not back yet
            log.info("serial port %s not available (%s); retry in %.2f s", self.port, exc,
                     self.backoff.failed(now))
            return False
        self.backoff.reset()
        self.reconnects += 1
        return True

    def pending(self) -> int | None:
        """Bytes written that the device has not taken yet (None: unknown)."""
        if self.queue is not None:
            return self.queue.pending()
        try:
            return int(self._serial.out_waiting)
        except Exception:  # noqa: BLE001 - a port without TIOCOUTQ: unknown, not an error
            return None

    def discard(self) -> None:
        """Drop the unsent output (TCOFLUSH)."""
        if self.queue is not None:
            self.queue.discard()
            return
        try:
            self._serial.reset_output_buffer()
        except Exception as exc:  # noqa: BLE001 - the write that follows will tell
            log.warning("serial port %s: cannot discard output (%s)", self.port, exc)

    def write(self, data: bytes) -> bool:
        """Write and flush; on failure the port is closed and a reopen scheduled."""
        try:
            self._serial.write(data)
            self._serial.flush()
        except Exception as exc:  # SerialException, OSError: the port vanished
            log.warning("serial port %s lost (%s); dropping output, will reopen", self.port, exc)
            self.close()
            self.backoff.schedule(self._clock())
            return False
        self.last_write = self._clock()
        return True
