"""Posterior -> decision: smoothing, threshold, dwell, refractory period, explicit states.

Every hop the decoder's class probabilities go through:

1. **smoothing**: an exponential moving average ``s <- (1 - a) s + a p`` (``a = 1``: none);
2. **threshold**: the leading smoothed class must reach ``threshold``;
3. **dwell**: it must lead, above threshold, in ``dwell`` consecutive windows;
4. **refractory**: after a DECISION no new one for ``refractory_s`` (avoids double triggers).

A bundle with a rest class (a trained "no control" state, ``rest_index``) never turns it into a
command: while rest leads the smoothed posterior the output is NO_DECISION (reason ``rest``) and
the dwell count restarts, so the device holds its neutral state.

Each hop's output says what the device is told:

* ``NO_DECISION``: nothing confident; the device holds its neutral state;
* ``DECISION``: a command, emitted once when dwell is reached.

Faults and shutdown are the run's state, not the decision layer's
(:mod:`edge.run_state`); on a fault and on recovery the runtime calls :meth:`DecisionLayer.reset`
so that smoothing and dwell restart from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

__all__ = ["DecisionConfig", "DecisionState", "DecisionOutput", "DecisionLayer"]


class DecisionState(StrEnum):
    NO_DECISION = "NO_DECISION"
    DECISION = "DECISION"


@dataclass(frozen=True)
class DecisionConfig:
    """Decision-layer settings (validated on construction)."""

    smoothing: float = 0.5
    threshold: float = 0.6
    dwell: int = 2
    refractory_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing {self.smoothing}: expected 0 < a <= 1 (1 = none)")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold {self.threshold}: expected a probability in [0, 1]")
        if self.dwell < 1:
            raise ValueError(f"dwell {self.dwell}: expected at least 1 window")
        if self.refractory_s < 0:
            raise ValueError(f"refractory {self.refractory_s} s: expected >= 0")


@dataclass
class DecisionOutput:
    """What one hop tells the device."""

    state: DecisionState
    class_index: int  # leading class (informational unless state is DECISION)
    confidence: float  # its smoothed probability
    smoothed: np.ndarray
    reason: str = ""


class DecisionLayer:
    """Stateful decision logic; one instance per running decoder.

    Parameters
    ----------
    n_classes : int
    config : DecisionConfig
    rest_index : int, optional
        The class that means "no control": never a DECISION.
    """

    def __init__(self, n_classes: int, config: DecisionConfig | None = None,
                 rest_index: int | None = None):
        if rest_index is not None and not 0 <= rest_index < n_classes:
            raise ValueError(f"rest class index {rest_index} outside 0..{n_classes - 1}")
        self.n_classes = n_classes
        self.config = config or DecisionConfig()
        self.rest_index = rest_index
        self.smoothed = np.full(n_classes, 1.0 / n_classes)
        self._run_class = -1
        self._run_length = 0
        self._last_decision_t = -np.inf
        self._fresh = True

    def reset(self) -> None:
        """Drop the evidence (after a fault, and on recovery): smoothing and dwell restart."""
        self.smoothed[:] = 1.0 / self.n_classes
        self._run_class, self._run_length = -1, 0
        self._fresh = True

    def update(self, proba: np.ndarray, t: float) -> DecisionOutput:
        """Feed one window's class probabilities observed at time ``t`` (s)."""
        cfg = self.config
        if self._fresh:  # first window after start or a fault: no stale evidence to blend
            self.smoothed[:] = proba
            self._fresh = False
        else:
            self.smoothed *= 1.0 - cfg.smoothing
            self.smoothed += cfg.smoothing * proba
        k = int(np.argmax(self.smoothed))
        conf = float(self.smoothed[k])
        if k == self.rest_index:  # the wearer is not controlling: hold, and dwell restarts
            self._run_class, self._run_length = -1, 0
            return DecisionOutput(DecisionState.NO_DECISION, k, conf, self.smoothed.copy(),
                                  "rest")
        if conf >= cfg.threshold:
            self._run_length = self._run_length + 1 if k == self._run_class else 1
            self._run_class = k
        else:
            self._run_class, self._run_length = -1, 0
        in_refractory = t - self._last_decision_t < cfg.refractory_s
        if self._run_length >= cfg.dwell and not in_refractory:
            self._last_decision_t = t
            self._run_class, self._run_length = -1, 0  # a new decision needs a new dwell
            return DecisionOutput(DecisionState.DECISION, k, conf, self.smoothed.copy())
        reason = "refractory" if in_refractory else ("dwell" if conf >= cfg.threshold
                                                      else "below threshold")
        return DecisionOutput(DecisionState.NO_DECISION, k, conf, self.smoothed.copy(),
                              reason)
