"""Device emulator: the firmware's receiver rules, on a pseudo-terminal or a real port.

:class:`Emulator` opens a pty (or the given serial port), reads whatever the runtime writes,
decodes it with :class:`~firmware_bridge.decoder.FrameDecoder` (or the ASCII parser) and applies
:class:`~firmware_bridge.receiver.Receiver`, the Python twin of the C receiver. Every decoded
frame, rejection, gap and state change becomes a record (a dict) handed to ``on_record`` and,
when a log file is given, written as one JSON object per line (flushed at once, so a test can
read it while the emulator runs).
"""

from __future__ import annotations

import json
import logging
import os
import select
import time
import tty
from collections.abc import Callable
from typing import IO

from firmware_bridge.ascii_mode import AsciiDecoder, AsciiLine
from firmware_bridge.decoder import FrameDecoder, RejectReason
from firmware_bridge.frames import (
    Decision,
    DecisionFlags,
    Fault,
    Frame,
    Heartbeat,
    Hello,
    MessageType,
    Stop,
    class_hash,
    message_to_dict,
    monotonic_ms,
)
from firmware_bridge.receiver import Receiver

log = logging.getLogger(__name__)

Record = dict[str, object]


class Emulator:
    """A microcontroller stand-in for the runtime to talk to.

    Parameters
    ----------
    serial_port : str, optional
        Existing port to read (pyserial URL or device). When None a pseudo-terminal is created
        and its slave path, :attr:`port`, is what the runtime opens.
    baud : int
        Baud rate for a real port (a pty ignores it).
    heartbeat_timeout_ms : int
        Receiver timeout (silence before the safe state, and life of a command).
    ascii_mode : bool
        Parse ASCII lines instead of binary frames.
    labels : list of str, optional
        ASCII mode: label per class index (else learned from a ``!HELLO`` line).
    json_log : file, optional
        Text file receiving one JSON record per line.
    class_hash : int
        Model the device expects (0 = any), as the firmware's EXPECTED_CLASS_HASH.
    key : bytes, optional
        16-byte MAC key: frames must carry a valid SipHash-2-4 MAC.
    read_bytes_per_s : float, optional
        Read at most this many bytes per second (a slow device; the rest waits in the pty).
    on_record : callable, optional
        Called with every record (the CLI prints them).
    """

    def __init__(
        self,
        serial_port: str | None = None,
        baud: int = 115200,
        heartbeat_timeout_ms: int = 500,
        ascii_mode: bool = False,
        labels: list[str] | None = None,
        json_log: IO[str] | None = None,
        on_record: Callable[[Record], None] | None = None,
        class_hash: int = 0,
        key: bytes | None = None,
        read_bytes_per_s: float | None = None,
    ) -> None:
        self.serial_port = serial_port
        self.baud = baud
        self.receiver = Receiver(heartbeat_timeout_ms, class_hash=class_hash)
        self.decoder = FrameDecoder(key=key)
        self.ascii_mode = ascii_mode
        self.ascii_decoder = AsciiDecoder()
        self.labels = list(labels) if labels else []
        self.json_log = json_log
        self.on_record = on_record
        self.port: str | None = None
        self._master: int | None = None
        self._slave: int | None = None
        self._serial = None
        self._t0 = time.monotonic()
        self.read_bytes_per_s = read_bytes_per_s
        self._read_credit = 0.0
        self._read_at = time.monotonic()
        self._ascii_seq = 0
        self._ascii_session = 0
        self._ascii_frames = 0

    # -- port --------------------------------------------------------------------------------
    def open(self) -> str:
        """Open the pty or the port; returns the path the runtime should open."""
        if self.serial_port is None:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)  # no echo, no line discipline: bytes pass untouched
            self.port = os.ttyname(self._slave)
        else:
            import serial  # pyserial, only needed for real ports

            self._serial = serial.serial_for_url(self.serial_port, baudrate=self.baud, timeout=0)
            self.port = self.serial_port
        self._emit({"event": "open", "port": self.port, "mode": self._mode()})
        log.info("emulator listening on %s", self.port)
        return self.port

    def close(self) -> None:
        if self.port is not None:
            self._emit({"event": "close", **self.summary()})
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        if self._serial is not None:
            self._serial.close()
            self._serial = None
        self.port = None

    def __enter__(self) -> Emulator:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _mode(self) -> str:
        return "ascii" if self.ascii_mode else "binary"

    def _read_limit(self) -> int:
        if self.read_bytes_per_s is None:
            return 4096
        now = time.monotonic()
        self._read_credit = min(
            self._read_credit + (now - self._read_at) * self.read_bytes_per_s, 4096.0
        )
        self._read_at = now
        return int(self._read_credit)

    def _read(self, timeout_s: float) -> bytes:
        if self._master is not None:
            limit = self._read_limit()
            if limit == 0:
                time.sleep(timeout_s)
                return b""
            ready, _, _ = select.select([self._master], [], [], timeout_s)
            data = os.read(self._master, limit) if ready else b""
            if self.read_bytes_per_s is not None:
                self._read_credit -= len(data)
            return data
        assert self._serial is not None
        data = self._serial.read(4096)
        if not data:
            time.sleep(timeout_s)
        return data

    # -- loop --------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000) % (1 << 32)

    def run(self, duration_s: float | None = None, poll_s: float = 0.005) -> None:
        """Serve until ``duration_s`` elapsed (forever when None) or KeyboardInterrupt."""
        end = None if duration_s is None else time.monotonic() + duration_s
        while end is None or time.monotonic() < end:
            self.step(self._read(poll_s))

    def step(self, data: bytes) -> None:
        """Apply the watchdog, then the bytes just received (all at the current time)."""
        now = self.now_ms()
        self._receiver_events(self.receiver.tick(now), now)
        if not data:
            return
        if self.ascii_mode:
            for line in self.ascii_decoder.feed(data):
                self._ascii(line, now)
            return
        for event in self.decoder.feed(data):
            events = self.receiver.on_event(event, now)
            if isinstance(event, Frame):
                self._emit(self._frame_record(event, now))
            self._receiver_events(events, now)

    def summary(self) -> Record:
        r = self.receiver
        return {
            "frames": self._ascii_frames if self.ascii_mode else self.decoder.n_frames,
            "rejected": {k.name.lower(): v for k, v in self.decoder.n_rejected.items() if v},
            "lost": r.lost,
            "stale": r.stale,
            "old": r.old,
            "foreign": r.foreign,
            "ignored": r.ignored,
            "state": r.state.name,
            "safe_reason": r.safe_reason.name.lower(),
        }

    # -- records -----------------------------------------------------------------------------
    def _emit(self, record: Record, now: int | None = None) -> None:
        record = {"t_ms": self.now_ms() if now is None else now, **record}
        if self.json_log is not None:
            self.json_log.write(json.dumps(record) + "\n")
            self.json_log.flush()
        if self.on_record is not None:
            self.on_record(record)

    def _frame_record(self, frame: Frame, now: int) -> Record:
        """A decoded frame, after the receiver saw it: ``outcome`` is Receiver.last_outcome
        (``used`` = acted on); ``mono_ms`` is this machine's monotonic clock (uint32 ms), so a
        host on the same machine can compute the age of what was acted on."""
        return {
            "t_ms": now,
            "event": "frame",
            "type": frame.msg_type.name,
            "session": frame.session,
            "seq": frame.seq,
            "timestamp_ms": frame.timestamp_ms,
            "mono_ms": monotonic_ms(),
            "outcome": self.receiver.last_outcome,
            **message_to_dict(frame.message),
        }

    def _receiver_events(self, events, now: int) -> None:
        for ev in events:
            self._emit({"event": ev.kind, **ev.fields}, now)

    def _ascii(self, line: AsciiLine | None, now: int) -> None:
        """Map an ASCII line onto a synthetic frame so the same receiver rules apply."""
        if line is None:
            self._emit({"event": "reject", "reason": "syntax"}, now)
            events = self.receiver.on_rejection(RejectReason.BODY)  # counts it, like a bad frame
            self._receiver_events([e for e in events if e.kind != "reject"], now)
            return
        message: Hello | Decision | Heartbeat | Fault | Stop
        if line.kind == "hello":
            pairs = [p.split("=", 1) for p in line.text.split() if "=" in p]
            if pairs:
                self.labels = [p[0] for p in pairs]
                names = tuple(p[1] for p in pairs)
            else:  # "!HELLO" alone: the labels given with --labels
                names = tuple(self.labels)
            message = Hello(0, 0, len(names), class_hash(names), names)
            self._ascii_session += 1  # ASCII has no session id: each HELLO starts one
        elif line.kind in ("decision", "hold"):
            if line.kind == "decision" and line.label not in self.labels:
                self._emit({"event": "reject", "reason": "label", "label": line.label}, now)
                return
            index = 0 if line.kind == "hold" else self.labels.index(line.label)
            flags = DecisionFlags.HOLD if line.kind == "hold" else 0
            confidence = 0 if line.kind == "hold" else round(line.confidence * 255)
            message = Decision(index, confidence, int(flags))
        elif line.kind == "heartbeat":
            message = Heartbeat()
        elif line.kind == "fault":
            message = Fault(0)
        else:
            message = Stop()
        kind = {
            Hello: MessageType.HELLO,
            Decision: MessageType.DECISION,
            Heartbeat: MessageType.HEARTBEAT,
            Fault: MessageType.FAULT,
            Stop: MessageType.STOP,
        }[type(message)]
        # ASCII lines have no sequence number or timestamp: a synthetic frame of the current
        # ASCII session, stamped on arrival (so buffered lines are NOT detected as old).
        if kind not in (MessageType.STOP, MessageType.FAULT):  # those never move the baseline
            self._ascii_seq = (self._ascii_seq + 1) % (1 << 32)
        frame = Frame(2, kind, self._ascii_seq, now, b"", message, self._ascii_session)
        self._ascii_frames += 1
        events = self.receiver.on_frame(frame, now)
        record = self._frame_record(frame, now)
        for k in ("seq", "session", "timestamp_ms"):
            record.pop(k)
        self._emit(record, now)
        self._receiver_events(events, now)


def format_record(record: Record) -> str:
    """One human line per record, for the terminal."""
    t = f"{record.get('t_ms', 0) / 1000:9.3f}s"
    event = record.get("event")
    rest = {k: v for k, v in record.items() if k not in ("t_ms", "event")}
    if event == "frame":
        kind = rest.pop("type")
        if kind == "DECISION":
            conf = int(rest["confidence_u8"]) / 255
            flags = DecisionFlags(int(rest["flags"]))
            return (
                f"{t}  DECISION class={rest['class_index']} conf={conf:.2f} "
                f"flags={flags.name or 0} seq={rest.get('seq', '-')}"
            )
        fields = " ".join(f"{k}={v}" for k, v in rest.items())
        return f"{t}  {kind} {fields}"
    if event == "reject":
        return f"{t}  !! rejected: {rest.get('reason')}"
    if event == "command":
        command = int(rest["command"])
        return f"{t}  -> output: {'neutral' if command < 0 else f'class {command}'}"
    if event == "state":
        return f"{t}  == {rest['state']} ({rest['reason']})"
    fields = " ".join(f"{k}={v}" for k, v in rest.items())
    return f"{t}  {event} {fields}"

