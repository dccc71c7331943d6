"""How messages look on the serial link: binary frames or ASCII lines (firmware_bridge).

An :class:`Encoder` is the policy that :class:`edge.sinks.SerialSink` (the transport) is given:
built once per run from the :class:`edge.run_state.Session` (classes, decision rate) and the
heartbeat period, it turns each message into the bytes to write. Binary frames carry one
sequence counter for the whole run, across reopened ports.
"""

from __future__ import annotations

from typing import Protocol

from edge.run_state import Session
from firmware_bridge import DELIMITER, AsciiEncoder, FaultReason, FrameEncoder

__all__ = ["Encoder", "BinaryFrames", "AsciiLines", "encoder_for"]


class Encoder(Protocol):
    def session_start(self) -> bytes:
        """What opens a session on a fresh port: a resynchronising delimiter, then HELLO."""

    def hello(self) -> bytes: ...

    def decision(self, class_index: int, confidence: float, flags: int) -> bytes: ...

    def heartbeat(self) -> bytes: ...

    def fault(self, reason: FaultReason) -> bytes: ...

    def stop(self) -> bytes: ...


class BinaryFrames:
    """COBS frames with CRC (firmware_bridge/PROTOCOL.md)."""

    def __init__(self, session: Session, heartbeat_ms: int,
                 frames: FrameEncoder | None = None) -> None:
        self.session = session
        self.heartbeat_ms = int(heartbeat_ms)
        self.frames = frames or FrameEncoder()

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
    """One text line per message (hobbyist mode, no CRC). The session still opens with the
    frame delimiter (a NUL byte) before HELLO, as it always has: receivers skip it."""

    def __init__(self, session: Session, heartbeat_ms: int) -> None:
        self.session = session
        self.heartbeat_ms = int(heartbeat_ms)
        self.lines = AsciiEncoder(session.classes)

    def session_start(self) -> bytes:
        return DELIMITER + self.hello()

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


def encoder_for(ascii_mode: bool, session: Session, heartbeat_ms: int) -> Encoder:
    """The encoder of ``--ascii`` (lines) or the default (binary frames)."""
    return AsciiLines(session, heartbeat_ms) if ascii_mode else BinaryFrames(session,
                                                                            heartbeat_ms)
