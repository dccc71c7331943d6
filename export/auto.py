"""``mi-export auto``: train every candidate decoder, rank them by cross-validation on the
training runs, and write the winner first in the bundle (the runtime's default decoder).

Ranking is *nested* with respect to any later test: it only ever sees the epochs it is given
(the training runs). Inside them, each candidate is trained on all runs but one and scored on
the run left out (leave-one-run-out); with a single run, on :data:`N_BLOCKS` contiguous blocks
per class instead (trials in recording order, so neighbouring trials stay together). The score
is the accuracy over every left-out trial, ties broken by the mean log-probability of the true
class, then by the candidate order. Pooled candidates train their pooled part once on the pool
(other people only) and adapt per fold.

The bundle holds the winner first, then (unless ``winner_only``) the other candidates in rank
order, each retrained on all the training runs; the ranking table is stored in the manifest
under ``"auto"`` (the runtime ignores keys it does not know).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle import UNCHECKED
from export.auto_candidates import Candidate
from export.bundle_writer import BundleWriter
from export.data import EpochSet

__all__ = ["inner_folds", "score_candidate", "rank", "run_auto", "AutoResult", "N_BLOCKS"]

Progress = Callable[[str], None]

#: Blocks per class for the inner cross-validation when the training data is one run.
N_BLOCKS = 3


def inner_folds(ep: EpochSet) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) index pairs: leave-one-run-out over ``ep.groups``; one run: each
    class's trials, in order, cut into :data:`N_BLOCKS` contiguous blocks, block k of every
    class validates fold k."""
    classes, counts = np.unique(ep.y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("the training data has one class only; ranking needs trials of at "
                         "least two classes")
    groups = np.unique(ep.groups)
    idx = np.arange(len(ep.y))
    if len(groups) >= 2:
        return [(idx[ep.groups != g], idx[ep.groups == g]) for g in groups]
    if counts.min() < N_BLOCKS:
        raise ValueError(f"one run with {counts.min()} trials in a class: too few for "
                         f"{N_BLOCKS} cross-validation blocks")
    block = np.empty(len(ep.y), int)
    for c in classes:
        members = idx[ep.y == c]
        block[members] = np.arange(len(members)) * N_BLOCKS // len(members)
    return [(idx[block != k], idx[block == k]) for k in range(N_BLOCKS)]


def score_candidate(cand: Candidate, ep: EpochSet, progress: Progress) -> dict[str, Any]:
    """Inner cross-validation of one candidate on ``ep`` (the training runs only)."""
    t0 = time.perf_counter()
    cand.prepare(progress)
    t_prep = time.perf_counter() - t0
    correct, loglik, n = 0, 0.0, 0
    folds = inner_folds(ep)
    for k, (tr, va) in enumerate(folds):
        model = cand.fit(ep.subset(tr), progress)
        p = cand.predict_proba(model, ep.subset(va))
        y = ep.y[va]
        correct += int(np.sum(p.argmax(1) == y))
        loglik += float(np.sum(np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))))
        n += len(y)
        progress(f"  {cand.name}: inner fold {k + 1}/{len(folds)}, running accuracy "
                 f"{correct / n:.3f}")
    return {"name": cand.name, "method": cand.describe(), "cv_accuracy": correct / n,
            "cv_loglik": loglik / n, "cv_trials": n, "cv_folds": len(folds),
            "pool_seconds": t_prep, "cv_seconds": time.perf_counter() - t0 - t_prep}


def rank(scores: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first: accuracy, then mean log-probability, then the given order."""
    order = sorted(range(len(scores)),
                   key=lambda i: (-scores[i]["cv_accuracy"], -scores[i]["cv_loglik"], i))
    return [scores[i] | {"rank": r + 1} for r, i in enumerate(order)]


@dataclass
class AutoResult:
    bundle: Path
    ranking: list[dict[str, Any]]
    decoders: list[str]
    default: str
    seconds: float
    scheme: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": str(self.bundle), "default_decoder": self.default,
                "decoders": self.decoders, "ranking": self.ranking, "scheme": self.scheme,
                "seconds": self.seconds, **self.extra}


def cv_scheme(ep: EpochSet) -> str:
    n_groups = len(np.unique(ep.groups))
    if n_groups >= 2:
        return f"leave-one-run-out over the {n_groups} training runs"
    return f"one run: {N_BLOCKS} contiguous blocks per class"


def run_auto(ep: EpochSet, candidates: Sequence[Candidate], output: str | Path, *,
             winner_only: bool = False, sign_key=None,
             progress: Progress = lambda m: None) -> AutoResult:
    """Rank ``candidates`` on ``ep`` (the training epochs) and write the bundle."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    t0 = time.perf_counter()
    inner_folds(ep)  # refuse bad data before any training
    scores = []
    for i, cand in enumerate(candidates):
        progress(f"candidate {i + 1}/{len(candidates)}: {cand.describe()}")
        s = score_candidate(cand, ep, progress)
        progress(f"candidate {cand.name}: inner CV accuracy {s['cv_accuracy']:.3f} "
                 f"({s['cv_seconds'] + s['pool_seconds']:.0f} s)")
        scores.append(s)
    ranking = rank(scores)
    by_name = {c.name: c for c in candidates}
    keep = ranking[:1] if winner_only else ranking
    output = Path(output)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".auto",
                                    dir=output.parent if output.parent.exists() else None))
    try:
        stage = staging / "b.mibundle"
        written: dict[str, list[str]] = {}
        for row in keep:
            cand = by_name[row["name"]]
            progress(f"training {cand.name} on all {len(ep.y)} training trials")
            t = time.perf_counter()
            model = cand.fit(ep, progress)
            written[cand.name] = cand.write(stage, model, ep, progress)
            row["final_seconds"] = time.perf_counter() - t
        for row in ranking:
            row["decoders"] = written.get(row["name"], [])
        order = [n for row in keep for n in written[row["name"]]]
        seconds = time.perf_counter() - t0
        manifest_entry = {"scheme": cv_scheme(ep), "metric": "accuracy (ties: mean log-prob)",
                          "ranking": ranking, "default": order[0], "seconds": seconds}
        path = _finalise(stage, output, order, manifest_entry, sign_key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return AutoResult(path, ranking, order, order[0], seconds, manifest_entry["scheme"])


def _finalise(stage: Path, output: Path, order: list[str], entry: dict[str, Any],
              sign_key) -> Path:
    """Rewrite the staged bundle at ``output`` with the decoders in ``order`` (the first is the
    runtime's default) and the ranking under ``manifest["auto"]``."""
    from edge.bundle import open_bundle

    staged = open_bundle(stage, trusted_key=UNCHECKED)
    writer = BundleWriter(stage, staged.classes, staged.channels, staged.sfreq,
                          rest_class=staged.rest_class)
    decoders = writer.manifest["decoders"]
    writer.manifest["decoders"] = {n: decoders[n] for n in order}
    writer.manifest["auto"] = entry
    writer.path = output  # close() refuses a non-bundle directory there, replaces a bundle
    return writer.close(sign_key=sign_key)
