"""JSON lines: every hop's outcome, transitions and link events, to a file or stdout."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO

import numpy as np

from edge.decision import DecisionOutput
from edge.run_state import RunState, RunStateMachine, Session, Transition
from edge.serial_sink import SerialSink
from edge.sinks import SinkError

__all__ = ["JsonlSink"]


class JsonlSink:
    """One JSON object per line (file, or stdout with ``-``) for scripting and logs.

    Subscribed to serial sinks (:func:`open_sinks` does it), it also writes a ``link`` line
    each time one discards output or restarts its session, and their :class:`LinkStats` in
    the ``stop`` line.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._fh: IO[str] | None = None
        self.classes: list[str] = []
        self.links: list[SerialSink] = []

    def watch(self, serial: SerialSink) -> None:
        """Report what ``serial`` does about a device that does not keep up."""
        self.links.append(serial)
        serial.subscribe(self)

    def on_write(self, t_begin: float, t_end: float) -> None:
        pass

    def on_link(self, event: dict[str, object]) -> None:
        if self._fh is not None:
            self._line({"type": "link", **event, "wall_time": time.time()})

    def _line(self, obj: dict[str, object]) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps(obj, default=_jsonable) + "\n")
        self._fh.flush()

    def start(self, session: Session, run: RunStateMachine) -> None:
        self.classes = list(session.classes) + ([session.rest_class] if session.rest_class
                                                 else [])
        try:
            self._fh = sys.stdout if self.path == "-" else open(self.path, "w")  # noqa: SIM115
        except OSError as exc:
            raise SinkError(f"jsonl:{self.path}: cannot write ({exc})") from exc
        self._line({"type": "hello", "classes": list(session.classes),
                    "rest_class": session.rest_class,
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
            stop: dict[str, object] = {"type": "stop"}
            if self.links:
                stop["link"] = {s.port: asdict(s.link) for s in self.links}
            self._line(stop)
            if self._fh is not sys.stdout:
                self._fh.close()
            self._fh = None


def _jsonable(x: object) -> object:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)
