"""Where decisions go: the serial link to the device (firmware bridge protocol) and JSON lines.

Every sink receives the same calls from the loop: ``start`` (HELLO), ``emit`` once per hop
(DECISION, or DECISION with the HOLD flag when there is no decision, or FAULT), ``tick`` between
hops (HEARTBEAT when the line was idle for ``heartbeat_ms``), ``recovered`` (HELLO again after a
fault) and ``stop`` (STOP, sent three times on the serial link).

The serial sink never buffers: a frame that cannot be written is dropped, the port is reopened
with exponential backoff, and after it returns the session restarts with HELLO followed only by
decisions made after the reconnection. A stale command can therefore never reach the device.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import IO, Protocol

import numpy as np

from edge.decision import DecisionOutput, DecisionState
from edge.errors import MiEdgeError
from firmware_bridge import DELIMITER, AsciiEncoder, DecisionFlags, FaultReason, FrameEncoder

__all__ = ["Sink", "NullSink", "SinkError", "SerialSink", "JsonlSink", "open_sinks",
           "FaultReason"]

log = logging.getLogger(__name__)


class SinkError(MiEdgeError):
    """An output cannot be opened at start (wrong port, unwritable file)."""

    exit_code = 6


class Sink(Protocol):
    def start(self, classes: list[str], decision_rate_hz: float) -> None: ...

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None: ...

    def fault(self, reason: FaultReason, text: str, info: dict[str, object]) -> None: ...

    def recovered(self) -> None: ...

    def tick(self, now: float) -> None: ...

    def stop(self) -> None: ...


class NullSink:
    """A sink that ignores everything: subclass it to keep only the calls you need."""

    def start(self, classes: list[str], decision_rate_hz: float) -> None:
        pass

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        pass

    def fault(self, reason: FaultReason, text: str, info: dict[str, object]) -> None:
        pass

    def recovered(self) -> None:
        pass

    def tick(self, now: float) -> None:
        pass

    def stop(self) -> None:
        pass


class SerialSink:
    """The firmware-bridge link: binary frames (default) or ASCII lines.

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
    """

    def __init__(self, port: str, baudrate: int = 115200, ascii_mode: bool = False,
                 heartbeat_ms: int = 250, backoff_s: tuple[float, float] = (0.25, 4.0)):
        self.port = port
        self.baudrate = baudrate
        self.ascii_mode = ascii_mode
        self.heartbeat_ms = heartbeat_ms
        self.backoff_s = backoff_s
        self.encoder = FrameEncoder()
        self.ascii: AsciiEncoder | None = None
        self._serial = None
        self._hello: tuple[list[str], float] | None = None
        self._last_write = 0.0
        self._retry_at = 0.0
        self._backoff = backoff_s[0]
        self._faulted: tuple[FaultReason, str] | None = None
        self.dropped = 0
        self.reconnects = 0
        self.write_s = 0.0  # duration of the last successful write (profiling)
        self.write_done = 0.0  # perf_counter() when it returned (profiling: end of e2e)

    # -- port handling -----------------------------------------------------------------
    def _open(self) -> None:
        import serial  # pyserial

        self._serial = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=0.5)

    def _close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._serial = None

    def _write(self, data: bytes) -> bool:
        if self._serial is None and not self._reopen():
            self.dropped += 1
            return False
        try:
            t = time.perf_counter()
            self._serial.write(data)
            self._serial.flush()
            self.write_done = time.perf_counter()
            self.write_s = self.write_done - t
        except Exception as exc:  # SerialException, OSError: the port vanished
            log.warning("serial port %s lost (%s); dropping output, will reopen", self.port, exc)
            self._close()
            self._retry_at = time.monotonic() + self._backoff
            self.dropped += 1
            return False
        self._last_write = time.monotonic()
        return True

    def _reopen(self) -> bool:
        now = time.monotonic()
        if now < self._retry_at:
            return False
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001 - not back yet
            self._retry_at = now + self._backoff
            self._backoff = min(self._backoff * 2, self.backoff_s[1])
            log.info("serial port %s not available (%s); retry in %.2f s", self.port, exc,
                     self._retry_at - now)
            return False
        self._backoff = self.backoff_s[0]
        self.reconnects += 1
        # a fresh session: resynchronise the receiver, announce ourselves, restate a fault
        ok = self._write_raw(DELIMITER + self._hello_frame())
        if ok and self._faulted is not None:
            ok = self._write_raw(self._fault_frame(self._faulted[0]))
        if ok:
            log.info("serial port %s open (session restarted with HELLO)", self.port)
        return ok

    def _write_raw(self, data: bytes) -> bool:
        try:
            self._serial.write(data)
            self._serial.flush()
        except Exception as exc:  # noqa: BLE001
            log.warning("serial port %s lost again (%s)", self.port, exc)
            self._close()
            self._retry_at = time.monotonic() + self._backoff
            return False
        self._last_write = time.monotonic()
        return True

    # -- frames ------------------------------------------------------------------------
    def _hello_frame(self) -> bytes:
        assert self._hello is not None
        classes, rate = self._hello
        if self.ascii is not None:
            return self.ascii.hello()
        return self.encoder.hello(classes, rate, self.heartbeat_ms)

    def _fault_frame(self, reason: FaultReason) -> bytes:
        return self.ascii.fault(reason) if self.ascii else self.encoder.fault(reason)

    # -- sink interface ----------------------------------------------------------------
    def start(self, classes: list[str], decision_rate_hz: float) -> None:
        self._hello = (list(classes), float(decision_rate_hz))
        if self.ascii_mode:
            self.ascii = AsciiEncoder(classes)
        try:  # the first open must work: a wrong port is a configuration error
            self._open()
        except Exception as exc:  # SerialException, OSError
            raise SinkError(f"serial port {self.port}: cannot open ({exc}); check the device "
                            "is plugged in and the user is in the dialout group") from exc
        self._write(DELIMITER + self._hello_frame())

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        flags = 0 if out.state is DecisionState.DECISION else int(DecisionFlags.HOLD)
        k = max(out.class_index, 0)
        if self.ascii is not None:
            frame = self.ascii.decision(k, out.confidence, flags)
        else:
            frame = self.encoder.decision(k, out.confidence, flags)
        self._write(frame)

    def fault(self, reason: FaultReason, text: str, info: dict[str, object]) -> None:
        self._faulted = (reason, text)
        self._write(self._fault_frame(reason))

    def recovered(self) -> None:
        self._faulted = None
        self._write(self._hello_frame())

    def tick(self, now: float) -> None:
        if self._serial is None:
            self._reopen()
            return
        if (time.monotonic() - self._last_write) * 1000.0 >= self.heartbeat_ms:
            if self._faulted is not None:  # keep restating the fault, not a heartbeat
                self._write(self._fault_frame(self._faulted[0]))
            elif self.ascii is not None:
                self._write(self.ascii.heartbeat())
            else:
                self._write(self.encoder.heartbeat())

    def stop(self) -> None:
        if self._serial is None:
            self._reopen()
        if self._serial is not None:
            frame = self.ascii.stop() if self.ascii else self.encoder.stop()
            for _ in range(3):  # PROTOCOL.md section 6: STOP three times
                self._write_raw(frame)
        self._close()


class JsonlSink:
    """One JSON object per line (file, or stdout with ``-``) for scripting and logs."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._fh: IO[str] | None = None
        self.classes: list[str] = []

    def _line(self, obj: dict[str, object]) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps(obj, default=_jsonable) + "\n")
        self._fh.flush()

    def start(self, classes: list[str], decision_rate_hz: float) -> None:
        self.classes = list(classes)
        try:
            self._fh = sys.stdout if self.path == "-" else open(self.path, "w")  # noqa: SIM115
        except OSError as exc:
            raise SinkError(f"jsonl:{self.path}: cannot write ({exc})") from exc
        self._line({"type": "hello", "classes": self.classes,
                    "decision_rate_hz": decision_rate_hz, "wall_time": time.time()})

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        k = out.class_index
        self._line({"type": out.state.value.lower(), "class_index": k,
                    "class": self.classes[k] if k >= 0 else None,
                    "confidence": round(out.confidence, 4),
                    "proba": [round(float(p), 4) for p in out.smoothed],
                    "reason": out.reason, **info})

    def fault(self, reason: FaultReason, text: str, info: dict[str, object]) -> None:
        self._line({"type": "fault", "reason": reason.name.lower(), "detail": text, **info})

    def recovered(self) -> None:
        self._line({"type": "recovered"})

    def tick(self, now: float) -> None:
        pass

    def stop(self) -> None:
        if self._fh is not None:
            self._line({"type": "stop"})
            if self._fh is not sys.stdout:
                self._fh.close()
            self._fh = None


def _jsonable(x: object) -> object:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def open_sinks(specs: list[str], ascii_mode: bool = False, baudrate: int = 115200,
               heartbeat_ms: int = 250) -> list[Sink]:
    """Build sinks from ``serial:PORT``, ``jsonl:PATH`` or ``stdout`` specifications."""
    sinks: list[Sink] = []
    for spec in specs:
        kind, _, arg = spec.partition(":")
        if kind == "serial" and arg:
            sinks.append(SerialSink(arg, baudrate, ascii_mode, heartbeat_ms))
        elif kind == "jsonl" and arg:
            sinks.append(JsonlSink(arg))
        elif spec == "stdout":
            sinks.append(JsonlSink("-"))
        else:
            raise ValueError(f"--out {spec!r}: expected serial:PORT, jsonl:PATH or stdout")
    return sinks
