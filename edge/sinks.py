"""Where decisions go: the :class:`Sink` seam every output implements.

Every sink receives the same calls from the loop: ``start`` (the session: HELLO), ``emit`` once
per hop (DECISION, or DECISION with the HOLD flag when there is no decision), ``tick`` between
hops (HEARTBEAT when the line was idle for ``heartbeat_ms``), and ``on_transition`` from the
run's state machine (:mod:`edge.run_state`): FAULT on entering a fault, HELLO again on leaving
it, STOP (three times on the serial link) when the run stops. A sink keeps no run state of its
own: it reads the current fault from the state machine it was started with.

The outputs: :mod:`edge.serial_sink` (the device, firmware bridge protocol),
:mod:`edge.jsonl_sink` (JSON lines); :func:`edge.outputs.open_sinks` builds them from
``--out`` specifications.
"""

from __future__ import annotations

from typing import Protocol

from edge.decision import DecisionOutput
from edge.errors import MiEdgeError
from edge.run_state import RunStateMachine, Session, Transition
from firmware_bridge import FaultReason

__all__ = ["Sink", "NullSink", "SinkError", "FaultReason"]


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
