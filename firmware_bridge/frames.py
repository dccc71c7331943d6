"""Binary frames of the mi-edge serial protocol: message types, bodies and the encoder.

A frame on the wire is ``COBS(header | body | [mac] | crc32) 0x00`` (see ``PROTOCOL.md``)::

    offset  size  field
    0       1     version        PROTOCOL_VERSION (2)
    1       1     type           MessageType, bit 7 (MAC_FLAG) set when a MAC follows the body
    2       4     session        uint32 LE, random per HELLO; every frame carries its session's
    6       4     seq            uint32 LE, +1 per frame, wraps 2**32 -> 0
    10      4     timestamp_ms   uint32 LE, host monotonic ms, wraps 2**32 -> 0
    14      1     body_len       0..MAX_BODY, must equal the bytes between header and MAC/CRC
    15      n     body           per type, below
    15+n    8     mac            only with MAC_FLAG: SipHash-2-4(key, bytes 0 .. 14+n)
    ..      4     crc32          uint32 LE, CRC-32/IEEE over every byte before it

Bodies (integers little-endian):

- HELLO: ``rate_centihz u16 | heartbeat_ms u16 | n_classes u8 | class_hash u32 | names``,
  names = class names joined by ``\\n`` in UTF-8 (may be empty: hash only),
  class_hash = CRC-32 of those joined names.
- DECISION: ``class_index u8 | confidence u8 (0..255 = 0..1) | flags u8`` (DecisionFlags).
- HEARTBEAT: empty.  FAULT: ``reason u8`` (FaultReason).  STOP: empty.

The runtime uses :class:`FrameEncoder`::

    enc = FrameEncoder(key=None)              # key: 16 bytes to add a SipHash MAC to each frame
    port.write(DELIMITER)                     # once after opening: receiver resynchronises
    port.write(enc.hello(["left", "right"], decision_rate_hz=4.0, heartbeat_ms=250))
                                              # ^ every hello() starts a new random session
    port.write(enc.decision(class_index=0, confidence=0.87))
    port.write(enc.heartbeat())               # when no frame went out for heartbeat_ms
    port.write(enc.fault(FaultReason.BOARD_LOST))
    port.write(enc.stop())                    # on shutdown (send it 3 times, see PROTOCOL.md)

Each method returns the complete frame, delimiter included, ready for ``serial.write``.
"""

from __future__ import annotations

import secrets
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from firmware_bridge import cobs
from firmware_bridge.crc import crc32
from firmware_bridge.siphash import KEY_SIZE, TAG_SIZE, siphash24

PROTOCOL_VERSION = 2
HEADER_SIZE = 15
CRC_SIZE = 4
MAC_SIZE = TAG_SIZE
MAC_FLAG = 0x80
MAX_BODY = 64
MAX_FRAME = HEADER_SIZE + MAX_BODY + MAC_SIZE + CRC_SIZE
MIN_FRAME = HEADER_SIZE + CRC_SIZE
HELLO_FIXED_SIZE = 9
MAX_NAMES_BYTES = MAX_BODY - HELLO_FIXED_SIZE
DELIMITER = b"\x00"
SEQ_MODULO = 1 << 32
TIME_MODULO = 1 << 32

_HEADER = struct.Struct("<BBIIIB")
_HELLO = struct.Struct("<HHBI")
_CRC = struct.Struct("<I")


class MessageType(IntEnum):
    """Message type byte (offset 1 of every frame)."""

    HELLO = 1
    DECISION = 2
    HEARTBEAT = 3
    FAULT = 4
    STOP = 5


class FaultReason(IntEnum):
    """Why the host reports a FAULT. Any value makes the receiver go safe."""

    UNSPECIFIED = 0
    BOARD_LOST = 1
    BAD_SIGNAL = 2
    BUNDLE_ERROR = 3
    OVERRUN = 4
    INTERNAL = 5


class DecisionFlags(IntFlag):
    """Flags byte of a DECISION; bits 2..7 are reserved and must be zero."""

    NONE = 0
    HOLD = 1
    """Below threshold or dwell not reached: the device holds its neutral state."""
    ARTIFACT = 2
    """The window was flagged by artifact detection (informational)."""


KNOWN_FLAGS = int(DecisionFlags.HOLD | DecisionFlags.ARTIFACT)


class FrameError(ValueError):
    """A message cannot be encoded as asked (value out of range, names too long)."""


@dataclass(frozen=True)
class Hello:
    """Session start: what the decisions mean and how often they come."""

    rate_centihz: int
    heartbeat_ms: int
    n_classes: int
    class_hash: int
    class_names: tuple[str, ...]

    @property
    def decision_rate_hz(self) -> float:
        return self.rate_centihz / 100.0


@dataclass(frozen=True)
class Decision:
    """One decision: a class index, its confidence as uint8 (255 = 1.0) and flags."""

    class_index: int
    confidence_u8: int
    flags: int

    @property
    def confidence(self) -> float:
        return self.confidence_u8 / 255.0


@dataclass(frozen=True)
class Heartbeat:
    """The host is alive and has nothing new to say."""


@dataclass(frozen=True)
class Fault:
    """The host cannot produce valid decisions; the device must go safe."""

    reason: int


@dataclass(frozen=True)
class Stop:
    """Explicit safe/neutral state, sent on shutdown."""


Message = Hello | Decision | Heartbeat | Fault | Stop


@dataclass(frozen=True)
class Frame:
    """A frame accepted by the decoder: header fields, raw body and the parsed message."""

    version: int
    msg_type: MessageType
    seq: int
    timestamp_ms: int
    body: bytes
    message: Message
    session: int = 0
    authenticated: bool = False
    """True when the frame carried a MAC that the decoder's key verified."""


def class_hash(class_names: Sequence[str]) -> int:
    """CRC-32 of the class names joined by newlines (UTF-8), as carried in HELLO."""
    return crc32("\n".join(class_names).encode("utf-8"))


def hello_body(
    class_names: Sequence[str],
    decision_rate_hz: float,
    heartbeat_ms: int,
    send_names: bool = True,
) -> bytes:
    """Body of a HELLO frame; raises :class:`FrameError` on values that do not fit."""
    names = list(class_names)
    if not 1 <= len(names) <= 255:
        raise FrameError(f"HELLO needs 1..255 class names, got {len(names)}")
    for name in names:
        if not name or "\n" in name:
            raise FrameError(f"class name {name!r} must be non-empty and contain no newline")
    rate = round(decision_rate_hz * 100)
    if not 0 <= rate <= 0xFFFF:
        raise FrameError(f"decision rate {decision_rate_hz} Hz outside 0..655.35 Hz")
    if not 0 <= heartbeat_ms <= 0xFFFF:
        raise FrameError(f"heartbeat_ms {heartbeat_ms} outside 0..65535")
    joined = "\n".join(names).encode("utf-8")
    if send_names and len(joined) > MAX_NAMES_BYTES:
        raise FrameError(
            f"class names take {len(joined)} bytes, HELLO has room for {MAX_NAMES_BYTES}; "
            "shorten them or pass send_names=False (the hash is always sent)"
        )
    body = _HELLO.pack(rate, heartbeat_ms, len(names), crc32(joined))
    return body + (joined if send_names else b"")


def decision_body(class_index: int, confidence: float, flags: int = 0) -> bytes:
    """Body of a DECISION frame; ``confidence`` in [0, 1] is rounded to uint8."""
    if not 0 <= class_index <= 255:
        raise FrameError(f"class_index {class_index} outside 0..255")
    if not 0.0 <= confidence <= 1.0:
        raise FrameError(f"confidence {confidence} outside [0, 1]")
    if int(flags) & ~KNOWN_FLAGS & 0xFF or not 0 <= int(flags) <= 255:
        raise FrameError(f"flags {flags:#x}: only HOLD (1) and ARTIFACT (2) are defined")
    return bytes((class_index, round(confidence * 255), int(flags)))


def encode_frame(
    msg_type: int,
    seq: int,
    timestamp_ms: int,
    body: bytes = b"",
    version: int = PROTOCOL_VERSION,
    *,
    session: int = 0,
    key: bytes | None = None,
) -> bytes:
    """Encode one frame: header, body, [MAC], CRC-32, COBS, then the 0x00 delimiter.

    ``seq`` and ``timestamp_ms`` are reduced modulo 2**32 (they wrap by design). With a 16-byte
    ``key`` the type byte gets MAC_FLAG and an 8-byte SipHash-2-4 tag follows the body.
    """
    if len(body) > MAX_BODY:
        raise FrameError(f"body of {len(body)} bytes exceeds MAX_BODY={MAX_BODY}")
    if key is not None and len(key) != KEY_SIZE:
        raise FrameError(f"MAC key must be {KEY_SIZE} bytes, got {len(key)}")
    type_byte = (msg_type | (MAC_FLAG if key is not None else 0)) & 0xFF
    raw = _HEADER.pack(
        version & 0xFF, type_byte, session % (1 << 32), seq % SEQ_MODULO,
        timestamp_ms % TIME_MODULO, len(body),
    ) + bytes(body)
    if key is not None:
        raw += siphash24(key, raw)
    raw += _CRC.pack(crc32(raw))
    return cobs.encode(raw) + DELIMITER


class SequenceCounter:
    """The 32-bit frame counter of one host session; ``next()`` returns 0, 1, ... 2**32-1, 0."""

    def __init__(self, start: int = 0) -> None:
        self._next = start % SEQ_MODULO

    def next(self) -> int:
        value = self._next
        self._next = (value + 1) % SEQ_MODULO
        return value

    def peek(self) -> int:
        return self._next


def random_session_id() -> int:
    """A fresh non-zero 32-bit session id from the OS random source."""
    return secrets.randbelow(0xFFFFFFFF) + 1


def monotonic_ms() -> int:
    """Host timestamp: ``time.monotonic_ns()`` in ms, wrapped to uint32."""
    return (time.monotonic_ns() // 1_000_000) % TIME_MODULO


class FrameEncoder:
    """Builds the frames of the host's sessions; each :meth:`hello` starts a new session.

    The encoder holds what every frame must carry: the session id (drawn at each ``hello()``),
    the sequence counter, the clock and the optional MAC key. Frames written before the first
    ``hello()`` carry session 0 (a receiver only obeys their STOP or FAULT).

    Parameters
    ----------
    sequence : SequenceCounter, optional
        Counter shared by every frame (one is created if omitted); it is not reset by HELLO.
    clock_ms : callable, optional
        Returns the host timestamp in ms (default :func:`monotonic_ms`); wrapped to uint32.
        The receiver bounds the age of commands with it: it must be monotonic.
    key : bytes, optional
        16-byte pre-shared key: every frame then carries a SipHash-2-4 MAC (PROTOCOL.md 7).
    session_source : callable, optional
        Returns the id of a new session (default :func:`random_session_id`; tests fix it).
    """

    def __init__(
        self,
        sequence: SequenceCounter | None = None,
        clock_ms: Callable[[], int] = monotonic_ms,
        key: bytes | None = None,
        session_source: Callable[[], int] = random_session_id,
    ) -> None:
        if key is not None and len(key) != KEY_SIZE:
            raise FrameError(f"MAC key must be {KEY_SIZE} bytes, got {len(key)}")
        self.sequence = sequence if sequence is not None else SequenceCounter()
        self.clock_ms = clock_ms
        self.key = bytes(key) if key is not None else None
        self.session_source = session_source
        self.session_id = 0

    def _frame(self, msg_type: MessageType, body: bytes = b"") -> bytes:
        return encode_frame(
            msg_type, self.sequence.next(), self.clock_ms(), body,
            session=self.session_id, key=self.key,
        )

    def hello(
        self,
        class_names: Sequence[str],
        decision_rate_hz: float,
        heartbeat_ms: int = 250,
        send_names: bool = True,
    ) -> bytes:
        """HELLO: starts a new session (new random id); the only frame that links a receiver."""
        body = hello_body(class_names, decision_rate_hz, heartbeat_ms, send_names)
        self.session_id = self.session_source() % (1 << 32)
        return self._frame(MessageType.HELLO, body)

    def decision(self, class_index: int, confidence: float, flags: int = 0) -> bytes:
        """DECISION with ``confidence`` in [0, 1] (sent as uint8) and :class:`DecisionFlags`."""
        return self._frame(MessageType.DECISION, decision_body(class_index, confidence, flags))

    def heartbeat(self) -> bytes:
        """HEARTBEAT: keeps the link alive when no other frame went out for heartbeat_ms."""
        return self._frame(MessageType.HEARTBEAT)

    def fault(self, reason: int) -> bytes:
        """FAULT with a :class:`FaultReason` (any uint8 is legal on the wire)."""
        if not 0 <= int(reason) <= 255:
            raise FrameError(f"fault reason {reason} outside 0..255")
        return self._frame(MessageType.FAULT, bytes((int(reason),)))

    def stop(self) -> bytes:
        """STOP: explicit safe state, sent on shutdown."""
        return self._frame(MessageType.STOP)


def parse_body(msg_type: int, body: bytes) -> Message | None:
    """Parse a body for its type, or None when it breaks the rules of PROTOCOL.md."""
    n = len(body)
    if msg_type == MessageType.DECISION:
        if n != 3 or body[2] & ~KNOWN_FLAGS:
            return None
        return Decision(body[0], body[1], body[2])
    if msg_type in (MessageType.HEARTBEAT, MessageType.STOP):
        if n != 0:
            return None
        return Heartbeat() if msg_type == MessageType.HEARTBEAT else Stop()
    if msg_type == MessageType.FAULT:
        return Fault(body[0]) if n == 1 else None
    if msg_type == MessageType.HELLO:
        if n < HELLO_FIXED_SIZE:
            return None
        rate, heartbeat, n_classes, hash_ = _HELLO.unpack_from(body)
        names = body[HELLO_FIXED_SIZE:]
        if n_classes == 0:
            return None
        if names and (names.count(b"\n") != n_classes - 1 or crc32(names) != hash_):
            return None
        text = names.decode("utf-8", errors="replace")
        return Hello(rate, heartbeat, n_classes, hash_, tuple(text.split("\n")) if names else ())
    return None


def message_to_dict(message: Message) -> dict[str, object]:
    """JSON-friendly fields of a message (used by the emulator log and the test vectors)."""
    if isinstance(message, Hello):
        return {
            "decision_rate_hz": message.decision_rate_hz,
            "heartbeat_ms": message.heartbeat_ms,
            "n_classes": message.n_classes,
            "class_hash": message.class_hash,
            "class_names": list(message.class_names),
        }
    if isinstance(message, Decision):
        return {
            "class_index": message.class_index,
            "confidence_u8": message.confidence_u8,
            "flags": message.flags,
        }
    if isinstance(message, Fault):
        return {"reason": message.reason}
    return {}
