"""The state of one run, owned by the runtime: STARTING -> LINKED <-> DECISION, FAULT, STOPPED.

One object says whether the run is linked, deciding, faulted or stopped, and why; the sinks
(and anything else subscribed) are told each transition and read the current fault from here
instead of keeping flags of their own.

==========  ===============================================================================
STARTING    before the sinks have announced the session (HELLO)
LINKED      the session is announced; the last hop gave no decision (the device holds)
DECISION    the last hop gave a decision
FAULT       the board, the signal or the decoder failed; ``fault`` says why
STOPPED     shut down (terminal)
==========  ===============================================================================

Transitions: ``link`` STARTING -> LINKED; ``hop`` LINKED/DECISION -> LINKED/DECISION;
``enter_fault`` any live state -> FAULT (a new fault text while in FAULT is reported again);
``recover`` FAULT -> LINKED; ``stop`` any -> STOPPED. Anything else raises
:class:`RunStateError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from firmware_bridge import FaultReason

__all__ = ["Fault", "RunState", "RunStateError", "RunStateMachine", "Session", "Transition",
           "TransitionListener"]

log = logging.getLogger(__name__)


class RunState(StrEnum):
    STARTING = "STARTING"
    LINKED = "LINKED"
    DECISION = "DECISION"
    FAULT = "FAULT"
    STOPPED = "STOPPED"


class RunStateError(RuntimeError):
    """A transition the run cannot make (a bug in the caller, not a user error)."""


@dataclass(frozen=True)
class Session:
    """What a run announces to its sinks: the classes the device may act on (HELLO's class
    list, wire indices 0..n-1), the decision rate, and the decoder's rest class if it has one
    (its last class, never a command and never announced as one)."""

    classes: tuple[str, ...]
    decision_rate_hz: float
    rest_class: str | None = None


@dataclass(frozen=True)
class Fault:
    reason: FaultReason
    text: str


@dataclass(frozen=True)
class Transition:
    """One change of state, at stream time ``t`` (s); ``fault`` is set on entering FAULT."""

    old: RunState
    new: RunState
    t: float
    fault: Fault | None = None


class TransitionListener(Protocol):
    def on_transition(self, change: Transition) -> None: ...


_ALLOWED: dict[RunState, frozenset[RunState]] = {
    RunState.STARTING: frozenset({RunState.LINKED, RunState.FAULT, RunState.STOPPED}),
    RunState.LINKED: frozenset({RunState.DECISION, RunState.FAULT, RunState.STOPPED}),
    RunState.DECISION: frozenset({RunState.LINKED, RunState.FAULT, RunState.STOPPED}),
    RunState.FAULT: frozenset({RunState.FAULT, RunState.LINKED, RunState.STOPPED}),
    RunState.STOPPED: frozenset(),
}


class RunStateMachine:
    """The run's state, its current fault, and who is told about changes.

    Parameters
    ----------
    listeners : sequence of TransitionListener
        Told every transition, in order (the runtime passes its sinks).
    """

    def __init__(self, listeners: list[TransitionListener] | None = None) -> None:
        self.state = RunState.STARTING
        self.fault: Fault | None = None
        self.listeners: list[TransitionListener] = list(listeners or [])

    def subscribe(self, listener: TransitionListener) -> None:
        self.listeners.append(listener)

    def _go(self, new: RunState, t: float, fault: Fault | None = None) -> Transition:
        old = self.state
        if new not in _ALLOWED[old]:
            raise RunStateError(f"run state {old} cannot go to {new}")
        self.state, self.fault = new, fault
        change = Transition(old, new, t, fault)
        for listener in self.listeners:
            listener.on_transition(change)
        return change

    def link(self, t: float = 0.0) -> Transition:
        """The session was announced: STARTING -> LINKED."""
        return self._go(RunState.LINKED, t)

    def hop(self, decided: bool, t: float) -> None:
        """A hop's outcome: DECISION or LINKED (listeners hear only actual changes)."""
        new = RunState.DECISION if decided else RunState.LINKED
        if new is not self.state:
            self._go(new, t)

    def enter_fault(self, reason: FaultReason, text: str, t: float) -> Transition | None:
        """Enter FAULT (or report a new fault text while in it); None when this very fault
        is already the current one (nothing to tell)."""
        if self.fault is not None and self.fault.text == text:
            return None
        return self._go(RunState.FAULT, t, Fault(reason, text))

    def recover(self, t: float) -> Transition:
        """Healthy data again: FAULT -> LINKED."""
        if self.state is not RunState.FAULT:
            raise RunStateError(f"recover from {self.state}: not in FAULT")
        return self._go(RunState.LINKED, t)

    def stop(self, t: float) -> Transition | None:
        """Shut down; every listener is told even if one of them fails (logged).

        The fault in force, if any, stays readable while the listeners are told (a serial
        link reopened to send STOP restates it first, as on any reopen), then is cleared.
        """
        if self.state is RunState.STOPPED:
            return None
        change = Transition(self.state, RunState.STOPPED, t, self.fault)
        self.state = RunState.STOPPED
        for listener in self.listeners:
            try:
                listener.on_transition(change)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                log.error("sink stop failed (%s): %s", type(listener).__name__, exc)
        self.fault = None
        return change
