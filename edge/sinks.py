"""Where decisions go: the serial link to the device (firmware bridge protocol) and JSON lines.

Every sink receives the same calls from the loop: ``start`` (the session: HELLO), ``emit`` once
per hop (DECISION, or DECISION with the HOLD flag when there is no decision), ``tick`` between
hops (HEARTBEAT when the line was idle for ``heartbeat_ms``), and ``on_transition`` from the
run's state machine (:mod:`edge.run_state`): FAULT on entering a fault, HELLO again on leaving
it, STOP (three times on the serial link) when the run stops. A sink keeps no run state of its
own: it reads the current fault from the state machine it was started with.

The serial sink is a transport (:class:`SerialTransport`: the port, reopened with
:class:`edge.backoff.Backoff`) and an encoder (:mod:`edge.encoders`: binary frames or ASCII
lines). It never buffers: a frame that cannot be written is dropped, the port is reopened with
exponential backoff, and after it returns the session restarts with HELLO followed only by
decisions made after the reconnection. A stale command can therefore never reach the device.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from edge.backoff import Backoff
from edge.decision import DecisionOutput, DecisionState
from edge.encoders import Encoder, encoder_for
from edge.errors import MiEdgeError
from edge.run_state import RunState, RunStateMachine, Session, Transition
from firmware_bridge import DecisionFlags, FaultReason

__all__ = ["Sink", "NullSink", "SinkError", "SerialSink", "SerialTransport", "JsonlSink",
           "open_sinks", "FaultReason"]

log = logging.getLogger(__name__)


class SinkError(MiEdgeError):
    """An output cannot be opened at start (wrong port, unwritable file)."""

    exit_code = 6


class Sink(Protocol):
    def start(self, session: Session, run: RunStateMachine) -> None: ...

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None: ...

    def on_transition(self, change: Transition) -> None: ...

    def tick(self, now: float) -> None: ...


class NullSink:
    """A sink that ignores everything: subclass it to keep only the calls you need."""

    def start(self, session: Session, run: RunStateMachine) -> None:
        pass

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        pass

    def on_transition(self, change: Transition) -> None:
        pass

    def tick(self, now: float) -> None:
        pass


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
    """

    def __init__(self, port: str, baudrate: int = 115200,
                 backoff_s: tuple[float, float] = (0.25, 4.0),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.baudrate = baudrate
        self.backoff = Backoff(*backoff_s)
        self._clock = clock
        self._serial: Any = None
        self.last_write = 0.0  # clock() of the last successful write
        self.reconnects = 0

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        """Open the port (raises SerialException / OSError)."""
        import serial  # pyserial

        self._serial = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=0.5)

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
    """

    def __init__(self, port: str, baudrate: int = 115200, ascii_mode: bool = False,
                 heartbeat_ms: int = 250, backoff_s: tuple[float, float] = (0.25, 4.0)):
        self.transport = SerialTransport(port, baudrate, backoff_s)
        self.ascii_mode = ascii_mode
        self.heartbeat_ms = heartbeat_ms
        self.encoder: Encoder | None = None
        self._run: RunStateMachine | None = None
        self._observers: list[Any] = []
        self.dropped = 0

    @property
    def port(self) -> str:
        return self.transport.port

    @property
    def reconnects(self) -> int:
        return self.transport.reconnects

    def subscribe(self, observer: Any) -> None:
        """``observer.on_write(t_begin, t_end)`` (perf_counter) after each frame written."""
        self._observers.append(observer)

    def _write(self, data: bytes) -> bool:
        tr = self.transport
        if not tr.is_open and not self._reopen():
            self.dropped += 1
            return False
        t = time.perf_counter()
        if not tr.write(data):
            self.dropped += 1
            return False
        if self._observers:
            t_end = time.perf_counter()
            for observer in self._observers:
                observer.on_write(t, t_end)
        return True

    def _reopen(self) -> bool:
        """Reopen the port when due; a fresh session: resynchronise the receiver, announce
        ourselves, restate the run's fault."""
        assert self.encoder is not None and self._run is not None
        tr = self.transport
        if not tr.reopen():
            return False
        ok = tr.write(self.encoder.session_start())
        fault = self._run.fault
        if ok and fault is not None:
            ok = tr.write(self.encoder.fault(fault.reason))
        if ok:
            log.info("serial port %s open (session restarted with HELLO)", self.port)
        return ok

    # -- sink interface ----------------------------------------------------------------
    def start(self, session: Session, run: RunStateMachine) -> None:
        self._run = run
        self.encoder = encoder_for(self.ascii_mode, session, self.heartbeat_ms)
        try:  # the first open must work: a wrong port is a configuration error
            self.transport.open()
        except Exception as exc:  # SerialException, OSError
            raise SinkError(f"serial port {self.port}: cannot open ({exc}); check the device "
                            "is plugged in and the user is in the dialout group") from exc
        self._write(self.encoder.session_start())

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        assert self.encoder is not None
        flags = 0 if out.state is DecisionState.DECISION else int(DecisionFlags.HOLD)
        self._write(self.encoder.decision(max(out.class_index, 0), out.confidence, flags))

    def on_transition(self, change: Transition) -> None:
        assert self.encoder is not None
        if change.new is RunState.FAULT:
            assert change.fault is not None
            self._write(self.encoder.fault(change.fault.reason))
        elif change.new is RunState.LINKED and change.old is RunState.FAULT:
            self._write(self.encoder.hello())  # recovered: the receiver leaves FAULT on HELLO
        elif change.new is RunState.STOPPED:
            self._stop()

    def tick(self, now: float) -> None:
        assert self.encoder is not None and self._run is not None
        if not self.transport.is_open:
            self._reopen()
            return
        if (time.monotonic() - self.transport.last_write) * 1000.0 >= self.heartbeat_ms:
            fault = self._run.fault
            if fault is not None:  # keep restating the fault, not a heartbeat
                self._write(self.encoder.fault(fault.reason))
            else:
                self._write(self.encoder.heartbeat())

    def _stop(self) -> None:
        assert self.encoder is not None
        tr = self.transport
        if not tr.is_open:
            self._reopen()
        if tr.is_open:
            frame = self.encoder.stop()
            for _ in range(3):  # PROTOCOL.md section 6: STOP three times
                tr.write(frame)
        tr.close()


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

    def start(self, session: Session, run: RunStateMachine) -> None:
        self.classes = list(session.classes)
        try:
            self._fh = sys.stdout if self.path == "-" else open(self.path, "w")  # noqa: SIM115
        except OSError as exc:
            raise SinkError(f"jsonl:{self.path}: cannot write ({exc})") from exc
        self._line({"type": "hello", "classes": self.classes,
                    "decision_rate_hz": session.decision_rate_hz, "wall_time": time.time()})

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        k = out.class_index
        self._line({"type": out.state.value.lower(), "class_index": k,
                    "class": self.classes[k] if k >= 0 else None,
                    "confidence": round(out.confidence, 4),
                    "proba": [round(float(p), 4) for p in out.smoothed],
                    "reason": out.reason, **info})

    def on_transition(self, change: Transition) -> None:
        if change.new is RunState.FAULT:
            assert change.fault is not None
            self._line({"type": "fault", "reason": change.fault.reason.name.lower(),
                        "detail": change.fault.text, "t": change.t})
        elif change.new is RunState.LINKED and change.old is RunState.FAULT:
            self._line({"type": "recovered"})
        elif change.new is RunState.STOPPED:
            self._stop()

    def tick(self, now: float) -> None:
        pass

    def _stop(self) -> None:
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
