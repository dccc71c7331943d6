"""Operating curves and operating points of the decision layer, from replayed posteriors.

A replay records each hop's raw class probabilities; the decision layer
(:mod:`edge.decision`) is cheap and deterministic, so every setting of it can be replayed from
those posteriors without decoding again. :func:`decisions` is the decision layer's own rule over
a whole run at once (tested equal to :class:`edge.decision.DecisionLayer` hop by hop);
:func:`sweep` scores a grid of settings over several runs (self-paced scores of
:mod:`edge.scoring`, pooled as counts); :func:`choose` picks the setting that meets a target
false-command rate with the most hits: the exporter's operating point, chosen on training runs
only (``mi-export ... --rest``), written into the bundle, and ``mi-edge run``'s defaults.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from edge.decision import DecisionConfig
from edge.scoring import score_selfpaced

__all__ = ["RunTrace", "decisions", "sweep", "choose", "THRESHOLDS", "DWELLS", "REFRACTORIES",
           "SMOOTHINGS"]

#: The grid the exporter searches (the replay's curve uses the first two).
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
DWELLS = (1, 2, 3, 4, 6, 8, 12)
REFRACTORIES = (1.0, 2.0, 4.0)
SMOOTHINGS = (0.5, 0.25)


@dataclass
class RunTrace:
    """One replayed run: hop times ``t`` (s), raw posteriors ``proba`` (n_hops, n_classes),
    its cue windows (:func:`edge.scoring.cue_windows`) and the decoded span (s)."""

    t: np.ndarray
    proba: np.ndarray
    cues: list[tuple[float, float, int]]
    span: tuple[float, float]


def _smooth(proba: np.ndarray, a: float) -> np.ndarray:
    """The decision layer's moving average (the first window taken as is)."""
    out = np.empty_like(proba, dtype=np.float64)
    s = proba[0].astype(np.float64)
    out[0] = s
    for i in range(1, len(proba)):
        s = (1.0 - a) * s + a * proba[i]
        out[i] = s
    return out


def decisions(proba: np.ndarray, t: np.ndarray, config: DecisionConfig,
              rest_index: int | None = None, smoothed: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Which hops of a run are DECISIONs, and the leading class of each hop.

    The rule of :meth:`edge.decision.DecisionLayer.update`, over a run without gaps.
    """
    sm = smoothed if smoothed is not None else _smooth(np.asarray(proba), config.smoothing)
    lead = np.argmax(sm, axis=1)
    conf = sm[np.arange(len(sm)), lead]
    decided = np.zeros(len(sm), dtype=bool)
    run_class, run_length, last = -1, 0, -np.inf
    thr, dwell, refr = config.threshold, config.dwell, config.refractory_s
    rest = -2 if rest_index is None else rest_index
    for i, (k, c, ti) in enumerate(zip(lead.tolist(), conf.tolist(), t.tolist(), strict=True)):
        if k == rest:
            run_class, run_length = -1, 0
            continue
        if c >= thr:
            run_length = run_length + 1 if k == run_class else 1
            run_class = k
        else:
            run_class, run_length = -1, 0
        if run_length >= dwell and ti - last >= refr:
            decided[i] = True
            last = ti
            run_class, run_length = -1, 0
    return decided, lead


def sweep(runs: list[RunTrace], rest_index: int | None = None,
          thresholds=THRESHOLDS, dwells=DWELLS, refractories=(1.0,), smoothings=(0.5,)
          ) -> list[dict[str, object]]:
    """Self-paced scores, pooled over ``runs``, of every decision setting of the grid."""
    out = []
    for a in smoothings:
        smoothed = [_smooth(r.proba, a) for r in runs]
        for thr, dwell, refr in itertools.product(thresholds, dwells, refractories):
            cfg = DecisionConfig(smoothing=a, threshold=thr, dwell=dwell, refractory_s=refr)
            hits = wrong = n = false = 0
            rest_min = 0.0
            lat: list[float] = []
            for run, sm in zip(runs, smoothed, strict=True):
                dec, lead = decisions(run.proba, run.t, cfg, rest_index, sm)
                s = score_selfpaced(run.t, dec, lead, run.cues, run.span)
                hits, wrong, n = hits + s["hits"], wrong + s["wrong"], n + s["n_cues"]
                false, rest_min = false + s["false_commands"], rest_min + s["rest_min"]
                lat += s["latencies_s"]
            out.append({
                "smoothing": a, "threshold": thr, "dwell": dwell, "refractory_s": refr,
                "hit_rate": hits / n if n else float("nan"),
                "wrong_rate": wrong / n if n else float("nan"),
                "false_per_min_rest": false / rest_min if rest_min else float("nan"),
                "false_commands": false, "rest_min": rest_min, "n_cues": n,
                "latency_s_median": float(np.median(lat)) if lat else float("nan"),
            })
    return out


def choose(curve: list[dict[str, object]], target_per_min: float) -> dict[str, object]:
    """The setting with at most ``target_per_min`` false commands per minute of rest and the
    most hits (then fewer false commands, fewer wrong, the shorter latency); if none meets the
    target, the one with the fewest false commands (then the most hits). ``met`` says which."""
    def key(p):
        lat = float(p["latency_s_median"])
        return (-float(p["hit_rate"]), float(p["false_per_min_rest"]), float(p["wrong_rate"]),
                lat if not np.isnan(lat) else np.inf)

    ok = [p for p in curve if float(p["false_per_min_rest"]) <= target_per_min
          and float(p["hit_rate"]) > 0]
    if ok:
        best = min(ok, key=key)
    else:
        best = min(curve, key=lambda p: (float(p["false_per_min_rest"]),
                                         -float(p["hit_rate"])))
    return {**best, "target_false_per_min": target_per_min, "met": bool(ok)}
