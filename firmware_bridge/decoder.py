"""Streaming frame decoder: bytes in any chunking -> accepted frames and reasoned rejections.

:class:`FrameDecoder` applies, in order, the checks of ``PROTOCOL.md`` section 4 to every
non-empty run of bytes that ends at a 0x00 delimiter, exactly as the C decoder
(``c/mi_bridge.c``, ``mi_bridge_decoder_feed``) does byte by byte:

1. OVERSIZE  the decoded frame would exceed MAX_FRAME (91) bytes
2. COBS      a code byte points past the delimiter
3. SHORT     fewer than 19 bytes (header + CRC)
4. CRC       CRC-32 mismatch
5. VERSION   version byte is not PROTOCOL_VERSION
6. LENGTH    body_len > MAX_BODY, or disagrees with the frame length (MAC included)
7. TYPE      unknown message type
8. BODY      body size or content breaks the rules of its type
9. AUTH      a decoder with a key: no MAC, or a MAC that the key does not verify

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
    MAC_FLAG,
    MAC_SIZE,
    MAX_BODY,
    MAX_FRAME,
    MIN_FRAME,
    PROTOCOL_VERSION,
    Frame,
    MessageType,
    parse_body,
)
from firmware_bridge.siphash import KEY_SIZE, siphash24

_HEADER = struct.Struct("<BBIIIB")
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
    AUTH = 10


@dataclass(frozen=True)
class Rejection:
    """A rejected run of bytes: the reason and how many encoded bytes were dropped."""

    reason: RejectReason
    n_bytes: int


def check_frame(
    encoded: bytes, overflow: bool = False, key: bytes | None = None
) -> Frame | Rejection:
    """Apply the decoder checks to one delimited run (without its 0x00).

    With a 16-byte ``key`` every frame must carry a MAC that verifies (else AUTH); without one
    a MAC is skipped unchecked (``Frame.authenticated`` is then False).
    """
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
    version = raw[0]
    if version != PROTOCOL_VERSION:
        return Rejection(RejectReason.VERSION, len(encoded))
    _, type_byte, session, seq, timestamp, body_len = _HEADER.unpack_from(raw)
    mac_len = MAC_SIZE if type_byte & MAC_FLAG else 0
    if body_len > MAX_BODY or body_len + mac_len != n - MIN_FRAME:
        return Rejection(RejectReason.LENGTH, len(encoded))
    msg_type = type_byte & ~MAC_FLAG
    if msg_type not in MessageType._value2member_map_:
        return Rejection(RejectReason.TYPE, len(encoded))
    end = HEADER_SIZE + body_len
    body = raw[HEADER_SIZE:end]
    message = parse_body(msg_type, body)
    if message is None:
        return Rejection(RejectReason.BODY, len(encoded))
    if key is not None and (not mac_len or siphash24(key, raw[:end]) != raw[end : end + MAC_SIZE]):
        return Rejection(RejectReason.AUTH, len(encoded))
    return Frame(
        version, MessageType(msg_type), seq, timestamp, body, message, session, key is not None
    )


class FrameDecoder:
    """Incremental decoder; keeps the bytes of an unfinished frame between ``feed`` calls.

    Parameters
    ----------
    key : bytes, optional
        16-byte MAC key: frames without a valid SipHash-2-4 MAC are rejected (AUTH).

    Attributes
    ----------
    n_frames : int
        Frames accepted so far.
    n_rejected : dict[RejectReason, int]
        Rejections so far, by reason.
    """

    def __init__(self, key: bytes | None = None) -> None:
        if key is not None and len(key) != KEY_SIZE:
            raise ValueError(f"MAC key must be {KEY_SIZE} bytes, got {len(key)}")
        self.key = bytes(key) if key is not None else None
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
                event = check_frame(bytes(self._pending), self._overflow, self.key)
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
        f"F {event.version} {int(event.msg_type)} {event.session} {event.seq} "
        f"{event.timestamp_ms} {event.body.hex() or '-'}{' A' if event.authenticated else ''}"
    )
