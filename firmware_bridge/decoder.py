"""Streaming frame decoder: bytes in any chunking -> accepted frames and reasoned rejections.

:class:`FrameDecoder` applies, in order, the checks of ``PROTOCOL.md`` section 4 to every
non-empty run of bytes that ends at a 0x00 delimiter, exactly as the C decoder
(``c/mi_bridge.c``, ``mi_bridge_decoder_feed``) does byte by byte:

1. OVERSIZE  the decoded frame would exceed MAX_FRAME (77) bytes
2. COBS      a code byte points past the delimiter
3. SHORT     fewer than 13 bytes (header + CRC)
4. CRC       CRC-32 mismatch
5. VERSION   version byte is not PROTOCOL_VERSION
6. LENGTH    body_len disagrees with the frame length
7. TYPE      unknown message type
8. BODY      body size or content breaks the rules of its type

Empty runs (two delimiters in a row) are ignored: a host may send 0x00 at any time to make the
receiver resynchronise. Bytes after the last delimiter wait for the next chunk. ``feed`` never
raises on any input and holds at most ``2 * MAX_FRAME`` pending bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge import cobs
from firmware_bridge.crc import crc32
from firmware_bridge.frames import (
    CRC_SIZE,
    HEADER_SIZE,
    MAX_FRAME,
    MIN_FRAME,
    PROTOCOL_VERSION,
    Frame,
    MessageType,
    parse_body,
)

_HEADER = struct.Struct("<BBHIB")
_PENDING_CAP = 2 * MAX_FRAME


class RejectReason(IntEnum):
    """Why a delimited run of bytes was not accepted; same numbers as ``mi_bridge_status_t``."""

    OVERSIZE = 2
    COBS = 3
    SHORT = 4
    CRC = 5
    VERSION = 6
    LENGTH = 7
    TYPE = 8
    BODY = 9


@dataclass(frozen=True)
class Rejection:
    """A rejected run of bytes: the reason and how many encoded bytes were dropped."""

    reason: RejectReason
    n_bytes: int


def check_frame(encoded: bytes, overflow: bool = False) -> Frame | Rejection:
    """Apply the decoder checks to one delimited run (without its 0x00)."""
    if overflow:
        return Rejection(RejectReason.OVERSIZE, len(encoded))
    raw, complete = cobs.decode_lenient(encoded)
    n = len(raw)
    if n > MAX_FRAME:
        return Rejection(RejectReason.OVERSIZE, len(encoded))
    if not complete:
        return Rejection(RejectReason.COBS, len(encoded))
    if n < MIN_FRAME:
        return Rejection(RejectReason.SHORT, len(encoded))
    if crc32(raw[:-CRC_SIZE]) != int.from_bytes(raw[-CRC_SIZE:], "little"):
        return Rejection(RejectReason.CRC, len(encoded))
    version, msg_type, seq, timestamp, body_len = _HEADER.unpack_from(raw)
    if version != PROTOCOL_VERSION:
        return Rejection(RejectReason.VERSION, len(encoded))
    if body_len != n - MIN_FRAME:
        return Rejection(RejectReason.LENGTH, len(encoded))
    if msg_type not in MessageType._value2member_map_:
        return Rejection(RejectReason.TYPE, len(encoded))
    body = raw[HEADER_SIZE : n - CRC_SIZE]
    message = parse_body(msg_type, body)
    if message is None:
        return Rejection(RejectReason.BODY, len(encoded))
    return Frame(version, MessageType(msg_type), seq, timestamp, body, message)


class FrameDecoder:
    """Incremental decoder; keeps the bytes of an unfinished frame between ``feed`` calls.

    Attributes
    ----------
    n_frames : int
        Frames accepted so far.
    n_rejected : dict[RejectReason, int]
        Rejections so far, by reason.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._overflow = False
        self.n_frames = 0
        self.n_rejected: dict[RejectReason, int] = {reason: 0 for reason in RejectReason}

    def reset(self) -> None:
        """Drop any partial frame (e.g. after reopening the port)."""
        self._pending.clear()
        self._overflow = False

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Frame | Rejection]:
        """Consume ``chunk``; return the frames and rejections it completed, in order."""
        events: list[Frame | Rejection] = []
        parts = bytes(chunk).split(b"\x00")
        for i, part in enumerate(parts):
            if not self._overflow:
                self._pending += part
                if len(self._pending) > _PENDING_CAP:
                    self._overflow = True
                    del self._pending[_PENDING_CAP:]
            if i == len(parts) - 1:
                break
            if self._pending or self._overflow:
                event = check_frame(bytes(self._pending), self._overflow)
                if isinstance(event, Frame):
                    self.n_frames += 1
                else:
                    self.n_rejected[event.reason] += 1
                events.append(event)
            self._pending.clear()
            self._overflow = False
        return events


def describe(event: Frame | Rejection) -> str:
    """One-line canonical form, identical to the output of the C ``vector_runner``."""
    if isinstance(event, Rejection):
        return f"R {event.reason.name.lower()}"
    return (
        f"F {event.version} {int(event.msg_type)} {event.seq} {event.timestamp_ms} "
        f"{event.body.hex() or '-'}"
    )
