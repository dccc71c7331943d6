"""ASCII mode for hobbyists: one text line per decision, in the spirit of the OpenBCI GUI.

Lines (``\\n``-terminated, at most 80 bytes; a decision line is at most 14)::

    L 0.87            decision: label of the class, space, confidence with two decimals
    -                 HOLD (below threshold, dwell or refractory): the device stays neutral.
                      No confidence: it would be misleading during the refractory period.
                      Parsers still accept the version-1 form ``- 0.41``.
    !HELLO L=left R=right
    !HB               heartbeat
    !FAULT board_lost
    !STOP

A sketch can parse it with ``mi_bridge_ascii_parse`` (C library) or
``Serial.readStringUntil('\\n')``. Leading NUL and CR bytes and a trailing CR are ignored (a
version-1 host wrote one NUL after opening the port; the runtime writes text only). Limits,
on purpose spelled out: no checksum (a flipped bit in ``L`` gives another valid label, and a
flipped digit another confidence), no sequence number (lost or repeated lines are invisible)
and no version. The only protections are the line syntax and the heartbeat timeout. Use the
binary mode for anything that moves a person; ASCII mode is for LEDs, cursors and first
experiments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge.frames import DecisionFlags, FaultReason, FrameError

MAX_LINE = 80
_LABEL = re.compile(r"[A-Za-z0-9_]{1,8}")
_DECISION = re.compile(rb"([A-Za-z0-9_]{1,8}|-) ([01]\.\d\d)")


def default_labels(class_names: Sequence[str]) -> list[str]:
    """First letter of each class name, upper-cased (``left`` -> ``L``); must be unique."""
    labels = [name[:1].upper() for name in class_names]
    if len(set(labels)) != len(labels) or not all(_LABEL.fullmatch(lb) for lb in labels):
        raise FrameError(
            f"class names {list(class_names)} do not give unique one-letter labels; "
            "pass labels=[...] explicitly (1-8 characters of A-Z a-z 0-9 _)"
        )
    return labels


class AsciiEncoder:
    """Writes the ASCII form of the protocol messages.

    Parameters
    ----------
    class_names : sequence of str
        Class names in class-index order.
    labels : sequence of str, optional
        Label per class (default :func:`default_labels`).
    """

    def __init__(self, class_names: Sequence[str], labels: Sequence[str] | None = None) -> None:
        self.class_names = list(class_names)
        self.labels = list(labels) if labels is not None else default_labels(class_names)
        if len(self.labels) != len(self.class_names):
            raise FrameError(f"{len(self.labels)} labels for {len(self.class_names)} classes")
        for label in self.labels:
            if not _LABEL.fullmatch(label):
                raise FrameError(f"label {label!r}: expected 1-8 characters of A-Z a-z 0-9 _")

    def hello(self) -> bytes:
        pairs = " ".join(
            f"{lb}={name}" for lb, name in zip(self.labels, self.class_names, strict=True)
        )
        return f"!HELLO {pairs}\n".encode()

    def decision(self, class_index: int, confidence: float, flags: int = 0) -> bytes:
        if not 0 <= class_index < len(self.labels):
            raise FrameError(f"class_index {class_index} outside 0..{len(self.labels) - 1}")
        if not 0.0 <= confidence <= 1.0:
            raise FrameError(f"confidence {confidence} outside [0, 1]")
        if flags & DecisionFlags.HOLD:
            return b"-\n"
        return f"{self.labels[class_index]} {confidence:.2f}\n".encode()

    def heartbeat(self) -> bytes:
        return b"!HB\n"

    def fault(self, reason: int) -> bytes:
        try:
            name = FaultReason(reason).name.lower()
        except ValueError:
            name = str(int(reason))
        return f"!FAULT {name}\n".encode()

    def stop(self) -> bytes:
        return b"!STOP\n"


@dataclass(frozen=True)
class AsciiLine:
    """A parsed ASCII line: ``kind`` is decision, hold, hello, heartbeat, fault or stop."""

    kind: str
    label: str = ""
    confidence: float = 0.0
    text: str = ""


class AsciiDecoder:
    """Splits a byte stream into lines and parses them; bad lines come back as ``None``.

    Never raises; a line longer than MAX_LINE is dropped up to its newline.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._overflow = False

    def feed(self, chunk: bytes) -> list[AsciiLine | None]:
        out: list[AsciiLine | None] = []
        parts = bytes(chunk).split(b"\n")
        for i, part in enumerate(parts):
            if not self._overflow:
                self._pending += part
                if len(self._pending) > MAX_LINE:
                    self._overflow = True
                    self._pending.clear()
            if i == len(parts) - 1:
                break
            status, parsed = parse_line_status(bytes(self._pending))
            if self._overflow:
                out.append(None)
            elif status != AsciiStatus.EMPTY:
                out.append(parsed)
            self._pending.clear()
            self._overflow = False
        return out


class AsciiStatus(IntEnum):
    """Outcome of parsing one line; same numbers as ``mi_bridge_ascii_status_t``."""

    OK = 0
    EMPTY = 1
    TOO_LONG = 2
    SYNTAX = 3
    CONFIDENCE = 4


def parse_line_status(line: bytes) -> tuple[AsciiStatus, AsciiLine | None]:
    """Parse one line (without its newline), exactly as ``mi_bridge_ascii_parse`` does."""
    if len(line) > MAX_LINE:
        return AsciiStatus.TOO_LONG, None
    line = line.lstrip(b"\x00\r")
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line:
        return AsciiStatus.EMPTY, None
    if line == b"-":
        return AsciiStatus.OK, AsciiLine("hold", "-", 0.0)
    match = _DECISION.fullmatch(line)
    if match:
        label = match.group(1).decode()
        centi = round(float(match.group(2)) * 100)
        if centi > 100:
            return AsciiStatus.CONFIDENCE, None
        return AsciiStatus.OK, AsciiLine("hold" if label == "-" else "decision", label, centi / 100)
    if line == b"!HB":
        return AsciiStatus.OK, AsciiLine("heartbeat")
    if line == b"!STOP":
        return AsciiStatus.OK, AsciiLine("stop")
    if line.startswith(b"!FAULT ") and line.isascii():
        return AsciiStatus.OK, AsciiLine("fault", text=line[7:].decode())
    if line.startswith(b"!HELLO ") and line.isascii():
        return AsciiStatus.OK, AsciiLine("hello", text=line[7:].decode())
    return AsciiStatus.SYNTAX, None


def parse_line(line: bytes) -> AsciiLine | None:
    """Parse one line (without its newline); None when it is not valid ASCII-mode syntax."""
    return parse_line_status(line)[1]


def describe_line(status: AsciiStatus, line: AsciiLine | None) -> str:
    """Canonical form shared with the C ``vector_runner ascii`` output."""
    if line is None:
        return status.name
    centi = round(line.confidence * 100)
    if line.kind in ("decision", "hold"):
        return f"OK {line.kind} {line.label} {centi}"
    return f"OK {line.kind} {line.text}".rstrip(" ") if line.text else f"OK {line.kind}"
