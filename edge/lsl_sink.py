"""Decisions and posteriors as LSL streams: ``mi-edge run ... --out lsl[:NAME]``.

Two outlets, found on the network by name (``NAME`` defaults to ``mi-edge``):

``NAME-decisions``
    type ``Markers``, irregular rate, four string channels ``class``, ``confidence``, ``state``,
    ``detail``. One sample per decision (``state`` = ``decision``, the class name and the
    smoothed confidence), and one per change of the run's state: ``fault`` (``detail`` = the
    reason, e.g. ``board lost: ... stalled``), ``no_decision`` (linked again after a fault, and
    at start), ``stopped``.
``NAME-posteriors``
    type ``MIPosteriors``, float32, one channel per class (labelled with the class names),
    nominal rate ``1 / hop``: the smoothed posteriors of every decoded hop (none during a
    fault).

Both describe the session in their meta-data (``desc``): ``classes`` (one ``class`` child per
class), ``bundle_sha256`` (SHA-256 of the bundle's manifest, which pins every member),
``decoder``, ``hop_s``, ``decision_rate_hz`` and ``software``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edge.decision import DecisionOutput, DecisionState
from edge.lsl import add_children, import_pylsl
from edge.run_state import RunState, RunStateMachine, Session, Transition

__all__ = ["LslSink", "DECISION_CHANNELS"]

log = logging.getLogger(__name__)

#: the string channels of the decision marker stream
DECISION_CHANNELS = ("class", "confidence", "state", "detail")


class LslSink:
    """Publish decisions (markers) and posteriors (one float channel per class) over LSL.

    Parameters
    ----------
    name : str
        Prefix of the two stream names (``NAME-decisions``, ``NAME-posteriors``).
    meta : dict, optional
        Extra session meta-data for both streams' ``desc`` (``bundle_sha256``, ``decoder``).
    """

    def __init__(self, name: str = "mi-edge", meta: dict[str, object] | None = None) -> None:
        self.pylsl = import_pylsl()  # a missing liblsl stops the run before it starts
        self.name = name
        self.meta = dict(meta or {})
        self.classes: list[str] = []
        self.decisions: Any = None
        self.posteriors: Any = None

    def _info(self, kind: str, stype: str, labels: list[str], rate: float, fmt: int,
              session: Session) -> Any:
        pylsl = self.pylsl
        info = pylsl.StreamInfo(f"{self.name}-{kind}", stype, len(labels), rate, fmt,
                                f"mi-edge-{self.name}-{kind}")
        desc = info.desc()
        channels = desc.append_child("channels")
        for label in labels:
            add_children(channels.append_child("channel"),
                         {"label": label, "type": stype})
        classes = desc.append_child("classes")
        for c in session.classes:
            classes.append_child_value("class", c)
        add_children(desc, {"hop_s": f"{1.0 / session.decision_rate_hz:g}",
                            "decision_rate_hz": f"{session.decision_rate_hz:g}",
                            "software": "mi-edge", **self.meta})
        return info

    def start(self, session: Session, run: RunStateMachine) -> None:
        pylsl = self.pylsl
        self.classes = list(session.classes)
        self.decisions = pylsl.StreamOutlet(self._info(
            "decisions", "Markers", list(DECISION_CHANNELS), pylsl.IRREGULAR_RATE,
            pylsl.cf_string, session))
        self.posteriors = pylsl.StreamOutlet(self._info(
            "posteriors", "MIPosteriors", self.classes, session.decision_rate_hz,
            pylsl.cf_float32, session))
        log.info("LSL outlets %s-decisions and %s-posteriors", self.name, self.name)
        self._marker("", 0.0, "no_decision")

    def _marker(self, cls: str, confidence: float, state: str, detail: str = "") -> None:
        if self.decisions is not None:
            self.decisions.push_sample([cls, f"{confidence:.4f}", state, detail])

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        if self.posteriors is None:
            return
        self.posteriors.push_sample(np.asarray(out.smoothed, dtype=np.float32).tolist())
        if out.state is DecisionState.DECISION:
            self._marker(self.classes[out.class_index], out.confidence, "decision")

    def on_transition(self, change: Transition) -> None:
        if change.new is RunState.FAULT:
            assert change.fault is not None
            reason = change.fault.reason.name.lower().replace("_", " ")
            self._marker("", 0.0, "fault", f"{reason}: {change.fault.text}")
        elif change.new is RunState.LINKED and change.old is RunState.FAULT:
            self._marker("", 0.0, "no_decision")
        elif change.new is RunState.STOPPED:
            # the outlets stay open until the process exits: an inlet still reading gets this
            self._marker("", 0.0, "stopped")

    def tick(self, now: float) -> None:
        pass
