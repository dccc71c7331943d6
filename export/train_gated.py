"""Train the two-stage self-paced FGSFT: a control-vs-rest gate and a command decoder.

The gate is a binary FGSFT on every window (the imagery epochs against the rest windows), the
command decoder the usual FGSFT on the imagery epochs only; :mod:`edge.decoders.gated` runs
them as one decoder whose last class is rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from export.bundle_writer import BundleWriter
from export.data import EpochSet
from export.fgsft import FGSFTClassifier, FGSFTConfig
from export.train_fgsft import fgsft_spec, train_fgsft

__all__ = ["GatedFGSFT", "train_gated", "write_gated", "split_gate"]


@dataclass
class GatedFGSFT:
    gate: FGSFTClassifier
    control: FGSFTClassifier


def split_gate(ep: EpochSet) -> tuple[EpochSet, EpochSet]:
    """The gate's epochs (control vs rest) and the command decoder's (imagery only)."""
    if ep.rest_class is None:
        raise ValueError("a gated decoder needs rest windows (--rest)")
    rest = len(ep.class_names) - 1
    gate = replace(ep.subset(np.arange(len(ep.y))), y=(ep.y == rest).astype(np.int64),
                   class_names=["control", ep.rest_class], rest_class=None)
    control = ep.subset(ep.y != rest)
    control.class_names, control.rest_class = list(ep.class_names[:-1]), None
    return gate, control


def train_gated(ep: EpochSet, config: FGSFTConfig,
                progress: Callable[[str], None] | None = None) -> GatedFGSFT:
    gate_ep, control_ep = split_gate(ep)
    say = progress or (lambda _m: None)
    say("gate: control vs rest")
    gate = train_fgsft(gate_ep, config, progress)
    say("commands: " + " vs ".join(control_ep.class_names))
    return GatedFGSFT(gate, train_fgsft(control_ep, config, progress))


def write_gated(bundle: str | Path, name: str, clf: GatedFGSFT, ep: EpochSet, sign_key=None,
                operating_point: dict | None = None, rest: dict | None = None) -> Path:
    """Add the gated decoder to a (new or existing) bundle whose last class is rest."""
    from edge.decoders.gated import gated_arrays

    gate_ep, control_ep = split_gate(ep)
    writer = BundleWriter(bundle, ep.class_names, ep.ch_names, ep.sfreq,
                          rest_class=ep.rest_class)
    member = writer.add_arrays(f"{name}.npz", gated_arrays(clf.gate.model_, clf.control.model_))
    spec = fgsft_spec(clf.control, member, control_ep).to_dict()
    spec["kind"] = "fgsft_gated"
    spec["params"]["gate"] = {"classes": gate_ep.class_names,
                              "chosen_j": clf.gate.scores_["chosen_j"],
                              "n_segments_used": clf.gate.scores_["n_segments_used"],
                              "chosen_lobo_accuracy": clf.gate.scores_["chosen_lobo_accuracy"]}
    spec["params"]["output"] = "p(command k) = p_gate(control) p(k); p(rest) = p_gate(rest)"
    if operating_point is not None:
        spec["operating_point"] = operating_point
    if rest is not None:
        spec["params"]["rest_windows"] = rest
    writer.add_decoder(name, spec, {
        "subjects": ep.subjects, "runs": sorted(int(r) for r in np.unique(ep.runs)),
        "n_trials": int(len(ep.y)),
        "class_counts": np.bincount(ep.y, minlength=len(ep.class_names)).tolist()})
    return writer.close(sign_key=sign_key)
