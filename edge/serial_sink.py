"""The serial sink: the device, over the firmware bridge protocol.

The serial sink is a transport (:class:`SerialTransport`: the port, reopened with
:class:`edge.backoff.Backoff`) and an encoder (:mod:`edge.encoders`: binary frames or ASCII
lines). It never buffers, and never queues a command behind older output:

* before each write it reads the transmit backlog (bytes written that the device has not taken:
  pyserial ``out_waiting``, TIOCOUTQ). While the device has not taken the last message, no
  DECISION, HOLD or HEARTBEAT is queued behind it: they are held back (a held command is
  counted), so what the device reads is never older than one message. More than one message
  pending (FAULTs restated behind a frozen device): the unsent output is discarded
  (``reset_output_buffer``, TCOFLUSH) and the current state restated instead: a resynchronising
  delimiter, then FAULT (in a fault) or a DECISION with the HOLD flag. Counted in
  :class:`LinkStats`.
* a device that stopped reading (its backlog did not go down), or that got nothing, for more
  than twice the heartbeat period has timed out to its safe state, which only a HELLO leaves
  (PROTOCOL.md 5): the session restarts with HELLO as soon as the backlog is empty again (a
  HELLO left in a backlog would arrive too old to be taken).
* a frame that cannot be written is dropped, the port is reopened with exponential backoff, and
  after it returns the session restarts with HELLO followed only by decisions made after the
  reconnection.

A pseudo-terminal reports no backlog (Linux answers TIOCOUTQ on a pty slave with 0 whatever the
other side left unread): there, only the device's own age rule refuses what waited. Tests give
the transport a :class:`TransmitQueue` that reads the pty master instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.decision import DecisionOutput, DecisionState
from edge.encoders import Encoder, encoder_for
from edge.run_state import RunState, RunStateMachine, Session, Transition
from edge.serial_transport import SerialTransport, TransmitQueue
from edge.sinks import NullSink, SinkError
from firmware_bridge import DecisionFlags

__all__ = ["SerialSink", "LinkStats", "read_link_key"]

log = logging.getLogger(__name__)


@dataclass
class LinkStats:
    """What the serial sink did about a device that does not keep up (see the module doc)."""

    flushes: int = 0  # backlog over one message: unsent output discarded, state restated
    bytes_flushed: int = 0
    commands_held: int = 0  # DECISIONs not sent: older output pending, or state restated
    hellos_resent: int = 0  # sessions restarted after a discard or a silence > 2 heartbeats
    max_backlog: int = 0  # the largest backlog seen before a write, bytes
    write_failures: int = 0  # frames lost to a vanished port


#: message kinds the sink writes; the first three are what a restatement replaces
_COMMAND, _HOLD, _HEARTBEAT, _FAULT, _HELLO, _STOP = ("command", "hold", "heartbeat", "fault",
                                                       "hello", "stop")


class SerialSink(NullSink):
    """The firmware-bridge link: a :class:`SerialTransport` and an :mod:`edge.encoders` policy.

    Parameters
    ----------
    port : str
        Serial device (``/dev/ttyUSB0``, ``/dev/mi-bridge``, a pseudo-terminal).
    baudrate : int
    ascii_mode : bool
        One text line per message instead of binary frames (hobbyist mode; no CRC).
    heartbeat_ms : int
        Idle time after which a HEARTBEAT goes out (announced in HELLO).
    backoff_s : (float, float)
        First and longest wait between reopen attempts of a vanished port.
    link_key : bytes, optional
        16-byte SipHash key: every frame carries a MAC (binary frames only).
    queue : TransmitQueue, optional
        Where the transmit backlog is read (default the port: ``out_waiting``).
    """

    def __init__(self, port: str, baudrate: int = 115200, ascii_mode: bool = False,
                 heartbeat_ms: int = 250, backoff_s: tuple[float, float] = (0.25, 4.0),
                 link_key: bytes | None = None, queue: TransmitQueue | None = None):
        if ascii_mode and link_key is not None:
            raise SinkError("--link-key: ASCII lines carry no MAC; drop --ascii or the key")
        self.transport = SerialTransport(port, baudrate, backoff_s, queue=queue)
        self.ascii_mode = ascii_mode
        self.heartbeat_ms = heartbeat_ms
        self.link_key = link_key
        self.encoder: Encoder | None = None
        self.link = LinkStats()
        self._run: RunStateMachine | None = None
        self._observers: list[Any] = []
        self._relink = False  # a HELLO is due once the device reads again
        self._quiet_s = 2 * heartbeat_ms / 1000.0  # longer without input: the device timed out
        self._last_pending = 0  # backlog after the last write or check, bytes
        self._moving_at = 0.0  # when the backlog last went down (or was written)
        self._busy_at = 0.0  # when a backlog was last seen

    @property
    def port(self) -> str:
        return self.transport.port

    @property
    def reconnects(self) -> int:
        return self.transport.reconnects

    @property
    def dropped(self) -> int:
        """Frames lost to a vanished port."""
        return self.link.write_failures

    def subscribe(self, observer: Any) -> None:
        """``observer.on_write(t_begin, t_end)`` (perf_counter) after each frame written, and
        ``observer.on_link(event)`` (a dict), if it has one, when the sink discards output or
        restarts the session."""
        self._observers.append(observer)

    def _tell(self, event: dict[str, object]) -> None:
        for observer in self._observers:
            on_link = getattr(observer, "on_link", None)
            if on_link is not None:
                on_link(event)

    def _send(self, kind: str, message: Callable[[], bytes]) -> bool:
        """Write one message, after looking at the backlog (module doc); ``message`` encodes
        it only if it is still the one to send (no sequence number is spent on a frame that is
        replaced or held back)."""
        assert self.encoder is not None and self._run is not None
        tr = self.transport
        if not tr.is_open and not self._reopen():
            self.link.write_failures += 1
            return False
        enc, link = self.encoder, self.link
        live = kind in (_COMMAND, _HOLD, _HEARTBEAT)
        now = time.monotonic()
        pending = tr.pending() or 0
        link.max_backlog = max(link.max_backlog, pending)
        prefix = b""
        if pending > enc.max_message:  # more than one message unread: do not add to it
            tr.discard()
            link.flushes += 1
            link.bytes_flushed += pending
            prefix, self._relink = enc.resync(), True
            self._tell({"event": "flush", "pending_bytes": pending})
            log.warning("serial port %s: %d bytes unread by the device; discarded, state "
                        "restated", self.port, pending)
        elif pending:
            if pending >= self._last_pending and now - self._moving_at > self._quiet_s:
                self._relink = True  # the device stopped reading: it will have timed out
            if pending < self._last_pending:
                self._moving_at = now
            self._last_pending, self._busy_at = pending, now
            if live:  # the device has not taken the last message: add nothing behind it
                link.commands_held += kind == _COMMAND
                return False
        elif live and now - max(tr.last_write, self._busy_at) > self._quiet_s:
            self._relink = True  # nothing reached the device for a while: it timed out
            self._tell({"event": "silence", "silent_s": round(now - tr.last_write, 3)})
        hello = b""
        if live and self._relink and not prefix:  # it reads again: a new session, now
            hello = enc.session_start()
            link.hellos_resent += 1
            self._relink = False
        elif kind == _HELLO:
            self._relink = False
        if live and (prefix or hello):  # restate the run's state instead of the message
            link.commands_held += kind == _COMMAND
            fault = self._run.fault
            if fault is not None:
                kind, message = _FAULT, lambda: enc.fault(fault.reason)
            else:
                kind, message = _HOLD, self._hold
        data = prefix + hello + message()
        t = time.perf_counter()
        if not tr.write(data):
            link.write_failures += 1
            return False
        self._last_pending = (0 if prefix else pending) + len(data)
        self._moving_at = tr.last_write
        if self._observers:
            t_end = time.perf_counter()
            for observer in self._observers:
                observer.on_write(t, t_end)
        return True

    def _hold(self) -> bytes:
        assert self.encoder is not None
        return self.encoder.decision(0, 0.0, int(DecisionFlags.HOLD))

    def _reopen(self) -> bool:
        """Reopen the port when due; a fresh session: resynchronise the receiver, announce
        ourselves, restate the run's fault."""
        assert self.encoder is not None and self._run is not None
        tr = self.transport
        if not tr.reopen():
            return False
        ok = tr.write(self.encoder.session_start())
        self._relink = not ok
        fault = self._run.fault
        if ok and fault is not None:
            ok = tr.write(self.encoder.fault(fault.reason))
        if ok:
            log.info("serial port %s open (session restarted with HELLO)", self.port)
        return ok

    # -- sink interface ----------------------------------------------------------------
    def start(self, session: Session, run: RunStateMachine) -> None:
        self._run = run
        self.encoder = encoder_for(self.ascii_mode, session, self.heartbeat_ms, self.link_key)
        try:  # the first open must work: a wrong port is a configuration error
            self.transport.open()
        except Exception as exc:  # SerialException, OSError
            raise SinkError(f"serial port {self.port}: cannot open ({exc}); check the device "
                            "is plugged in and the user is in the dialout group") from exc
        encoder = self.encoder
        self._send(_HELLO, encoder.session_start)

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        encoder = self.encoder
        assert encoder is not None
        k = out.class_index if 0 <= out.class_index < len(encoder.session.classes) else 0
        if out.state is DecisionState.DECISION and k == out.class_index:
            self._send(_COMMAND, lambda: encoder.decision(k, out.confidence, 0))
        else:  # a HOLD; a leading rest class (not announced in HELLO) shows as index 0
            if out.state is DecisionState.DECISION:
                log.error("decision for class %d, not a command of this session: held",
                          out.class_index)
            self._send(_HOLD, lambda: encoder.decision(k, out.confidence,
                                                       int(DecisionFlags.HOLD)))

    def on_transition(self, change: Transition) -> None:
        encoder = self.encoder
        assert encoder is not None
        if change.new is RunState.FAULT:
            fault = change.fault
            assert fault is not None
            self._send(_FAULT, lambda: encoder.fault(fault.reason))
        elif change.new is RunState.LINKED and change.old is RunState.FAULT:
            self._send(_HELLO, encoder.hello)  # recovered: the receiver leaves FAULT on HELLO
        elif change.new is RunState.STOPPED:
            self._stop()

    def tick(self, now: float) -> None:
        encoder = self.encoder
        assert encoder is not None and self._run is not None
        if not self.transport.is_open:
            self._reopen()
            return
        if (time.monotonic() - self.transport.last_write) * 1000.0 >= self.heartbeat_ms:
            fault = self._run.fault
            if fault is not None:  # keep restating the fault, not a heartbeat
                self._send(_FAULT, lambda: encoder.fault(fault.reason))
            else:
                self._send(_HEARTBEAT, encoder.heartbeat)

    def _stop(self) -> None:
        assert self.encoder is not None
        tr = self.transport
        if not tr.is_open:
            self._reopen()
        if tr.is_open:
            if (tr.pending() or 0) > self.encoder.max_message:
                tr.discard()  # STOP must not wait behind what the device has not read
                tr.write(self.encoder.resync())
            frame = self.encoder.stop()
            for _ in range(3):  # PROTOCOL.md section 6: STOP three times
                tr.write(frame)
        tr.close()


def read_link_key(path: str | Path) -> bytes:
    """The 16-byte MAC key in ``path``: 16 raw bytes, or 32 hex digits (whitespace ignored)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SinkError(f"--link-key {path}: cannot read ({exc})") from exc
    if len(raw) == 16:
        return raw
    try:
        key = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 16:
        raise SinkError(f"--link-key {path}: expected a 16-byte key, as 16 raw bytes or 32 hex "
                        f"digits (got {len(raw)} bytes); e.g. `head -c 16 /dev/urandom | xxd "
                        f"-p > {path}`, and the same key in the firmware")
    return key
