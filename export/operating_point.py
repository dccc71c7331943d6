"""The operating point chosen at export, on the training runs only (SPEC 3c).

Pseudo-online, run by run: each training run is held out in turn, the decoder is trained on the
other runs and that run is replayed through the runtime loop (:func:`edge.replay.replay_traces`,
the very loop of ``mi-edge run``); the held-out posteriors of all runs are then scored for every
decision setting of the grid (threshold x dwell x refractory x smoothing,
:func:`edge.operating.sweep`) as counts pooled over the runs (one run holds under a minute of
rest), and :func:`edge.operating.choose` keeps the setting that meets the target false-command
rate with the most hits. It goes into the bundle (the decoder's ``operating_point``) and becomes
``mi-edge run``'s default decision settings.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.operating import DWELLS, REFRACTORIES, SMOOTHINGS, THRESHOLDS, choose, sweep
from edge.replay import replay_traces
from export.data import EpochSet

__all__ = ["choose_operating_point", "DEFAULT_TARGET"]

log = logging.getLogger(__name__)

#: False commands per minute of rest the chosen point may make on the training runs.
DEFAULT_TARGET = 1.0


def _continuous_runs(ep: EpochSet) -> dict[int, Path]:
    """Run number -> continuous recording, for the sources that are continuous files."""
    out: dict[int, Path] = {}
    for path in ep.sources:
        with np.load(path, allow_pickle=False) as z:
            if "raw" in z.files:
                out[int(z["run"]) if "run" in z.files else len(out)] = Path(path)
    return out


def choose_operating_point(ep: EpochSet, name: str,
                           train_write: Callable[[EpochSet, Path], Path],
                           target_per_min: float = DEFAULT_TARGET, hop_s: float = 0.125,
                           grace_s: float = 1.0, event_map: dict[int, str] | None = None,
                           progress: Callable[[str], None] | None = None
                           ) -> dict[str, object] | None:
    """Choose the decision settings on the training runs, each held out in turn.

    ``train_write(epochs, bundle_path)`` trains the decoder ``name`` on ``epochs`` and writes it
    to a new bundle. Returns the chosen point (settings, its pooled held-out scores, the
    target, whether it was met, how it was chosen), or None when the training data cannot be
    replayed (fewer than two runs, or epoch files instead of continuous recordings).
    """
    say = progress or (lambda _msg: None)
    runs = sorted(int(r) for r in np.unique(ep.runs))
    files = _continuous_runs(ep)
    if len(runs) < 2 or any(r not in files for r in runs):
        log.warning("no operating point: it needs two or more continuous training runs "
                    "(runs %s, continuous %s)", runs, sorted(files))
        return None
    traces = []
    with tempfile.TemporaryDirectory(prefix="mi-operating-") as tmp:
        for r in runs:
            say(f"operating point: training without run {r}, replaying run {r}")
            path = train_write(ep.subset(ep.runs != r), Path(tmp) / f"without_{r}.mibundle")
            traces += replay_traces(path, name, [files[r]], hop_s, grace_s, event_map)
    rest_index = len(ep.class_names) - 1 if ep.rest_class else None
    curve = sweep(traces, rest_index, THRESHOLDS, DWELLS, REFRACTORIES, SMOOTHINGS)
    point = choose(curve, target_per_min)
    point.update({
        "chosen_on": f"pseudo-online replay of training runs {runs}, each held out (decoder "
                     "trained on the others), scores pooled over the runs",
        "hop_s": hop_s, "grace_s": grace_s,
        "grid": {"threshold": list(THRESHOLDS), "dwell": list(DWELLS),
                 "refractory_s": list(REFRACTORIES), "smoothing": list(SMOOTHINGS)},
    })
    say(f"operating point: threshold {point['threshold']:g}, dwell {point['dwell']}, "
        f"refractory {point['refractory_s']:g} s, smoothing {point['smoothing']:g}: "
        f"{point['false_per_min_rest']:.2f} false/min of rest (target {target_per_min:g}"
        f"{'' if point['met'] else ', NOT met'}), hit rate {point['hit_rate']:.2f} on "
        f"{point['n_cues']} held-out cues, {point['rest_min']:.1f} min of rest")
    return point
