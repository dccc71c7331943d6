"""How messages look on the serial link: binary frames or ASCII lines (firmware_bridge).

An :class:`Encoder` is the policy given to :class:`edge.serial_sink.SerialSink` (the transport):
built once per run from the :class:`edge.run_state.Session` (classes, decision rate) and the
heartbeat period, it turns each message into the bytes to write. Binary frames carry one
sequence counter for the whole run, across reopened ports, and an optional SipHash MAC (a
16-byte pre-shared key, ``mi-edge run --link-key``) for links that are not a wire.

``max_message`` is the longest message on the wire (the serial sink's "one frame" of transmit
backlog); ``resync`` ends whatever the device was in the middle of when the sink discarded
unsent output (a frame delimiter, or a newline in ASCII mode).
"""

from __future__ import annotations

from typing import Protocol

from edge.run_state import Session
from firmware_bridge import DELIMITER, AsciiEncoder, FaultReason, FrameEncoder
from firmware_bridge.ascii_mode import MAX_LINE
from firmware_bridge.frames import MAX_FRAME

__all__ = ["Encoder", "BinaryFrames", "AsciiLines", "encoder_for"]


class Encoder(Protocol):
    max_message: int
    session: Session  # HELLO's classes are the commands (a rest class is never announced)

    def resync(self) -> bytes:
        """What makes a receiver that saw part of a message start clean."""

    def session_start(self) -> bytes:
        """What opens a session on a fresh port: a resynchronising delimiter, then HELLO."""

    def hello(self) -> bytes: ...

    def decision(self, class_index: int, confidence: float, flags: int) -> bytes: ...

    def heartbeat(self) -> bytes: ...

    def fault(self, reason: FaultReason) -> bytes: ...

    def stop(self) -> bytes: ...


class BinaryFrames:
    """COBS frames with CRC, and a MAC when a key is given (firmware_bridge/PROTOCOL.md)."""

    max_message = MAX_FRAME + 2  # COBS overhead byte and delimiter

    def __init__(self, session: Session, heartbeat_ms: int,
                 frames: FrameEncoder | None = None, key: bytes | None = None) -> None:
        self.session = session
        self.heartbeat_ms = int(heartbeat_ms)
        self.frames = frames or FrameEncoder(key=key)

    def resync(self) -> bytes:
        return DELIMITER

    def session_start(self) -> bytes:
        return DELIMITER + self.hello()

    def hello(self) -> bytes:
        return self.frames.hello(list(self.session.classes), self.session.decision_rate_hz,
                                 self.heartbeat_ms)

    def decision(self, class_index: int, confidence: float, flags: int) -> bytes:
        return self.frames.decision(class_index, confidence, flags)

    def heartbeat(self) -> bytes:
        return self.frames.heartbeat()

    def fault(self, reason: FaultReason) -> bytes:
        return self.frames.fault(reason)

    def stop(self) -> bytes:
        return self.frames.stop()


class AsciiLines:
    """One text line per message (hobbyist mode, no CRC). Text only: the session opens with
    the ``!HELLO`` line itself (no NUL byte, which a sketch reading lines would see)."""

    max_message = MAX_LINE + 1

    def __init__(self, session: Session, heartbeat_ms: int) -> None:
        self.session = session
        self.heartbeat_ms = int(heartbeat_ms)
        self.lines = AsciiEncoder(session.classes)

    def resync(self) -> bytes:
        return b"\n"

    def session_start(self) -> bytes:
        return self.hello()

    def hello(self) -> bytes:
        return self.lines.hello()

    def decision(self, class_index: int, confidence: float, flags: int) -> bytes:
        return self.lines.decision(class_index, confidence, flags)

    def heartbeat(self) -> bytes:
        return self.lines.heartbeat()

    def fault(self, reason: FaultReason) -> bytes:
        return self.lines.fault(reason)

    def stop(self) -> bytes:
        return self.lines.stop()


def encoder_for(ascii_mode: bool, session: Session, heartbeat_ms: int,
                key: bytes | None = None) -> Encoder:
    """The encoder of ``--ascii`` (lines) or the default (binary frames, MAC with ``key``)."""
    if ascii_mode:
        if key is not None:
            raise ValueError("ASCII lines carry no MAC: a link key needs binary frames")
        return AsciiLines(session, heartbeat_ms)
    return BinaryFrames(session, heartbeat_ms, key=key)
