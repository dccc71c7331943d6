"""Train the two-stage self-paced FGSFT: a control-vs-rest gate and a command decoder.

The gate is trained on every window (the imagery epochs against the rest windows): a
Riemannian tangent-space logistic regression (:class:`edge.decoders.tangent.TangentGate`,
``gate="ts"``, the default) or a binary FGSFT (``gate="fgsft"``, whose divCSP filters are made
for left-vs-right and separate imagery from rest poorly: held-out AUC 0.41-0.79 against
0.75-0.88 on S001/S002/S007). The command decoder is the usual FGSFT on the imagery epochs
only; :mod:`edge.decoders.gated` runs them as one decoder whose last class is rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge.decoders.tangent import TangentGate, covariances, inv_sqrt, tangent_vectors
from export.bundle_writer import BundleWriter
from export.data import EpochSet
from export.fgsft import FGSFTClassifier, FGSFTConfig
from export.train_fgsft import fgsft_spec, train_fgsft

__all__ = ["GatedFGSFT", "train_gated", "write_gated", "split_gate", "train_ts_gate"]

#: The tangent-space gate's band (Hz), filter order and logistic regression's C.
TS_BAND, TS_ORDER, TS_C = (8.0, 30.0), 4, 1.0


@dataclass
class GatedFGSFT:
    gate: FGSFTClassifier | TangentGate
    control: FGSFTClassifier


def train_ts_gate(gate_ep: EpochSet) -> TangentGate:
    """Tangent-space control-vs-rest gate: reference = Riemannian mean of the training
    covariances (pyriemann, export side only), logistic regression on the tangent vectors."""
    from pyriemann.geometry.mean import mean_riemann
    from scipy.signal import butter, sosfiltfilt
    from sklearn.linear_model import LogisticRegression

    sos = butter(TS_ORDER, TS_BAND, btype="band", fs=gate_ep.sfreq, output="sos")
    C = covariances(sosfiltfilt(sos, np.asarray(gate_ep.X, dtype=np.float64), axis=-1))
    ref_isqrt = inv_sqrt(mean_riemann(C))
    lr = LogisticRegression(C=TS_C, max_iter=2000).fit(tangent_vectors(C, ref_isqrt),
                                                       gate_ep.y)
    return TangentGate(sos, ref_isqrt, lr.coef_[0], float(lr.intercept_[0]),
                       gate_ep.X.shape[-1], gate_ep.sfreq)


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
                progress: Callable[[str], None] | None = None, gate: str = "ts") -> GatedFGSFT:
    gate_ep, control_ep = split_gate(ep)
    say = progress or (lambda _m: None)
    say(f"gate: control vs rest ({'tangent space' if gate == 'ts' else 'FGSFT'})")
    gate = train_ts_gate(gate_ep) if gate == "ts" else train_fgsft(gate_ep, config, progress)
    say("commands: " + " vs ".join(control_ep.class_names))
    return GatedFGSFT(gate, train_fgsft(control_ep, config, progress))


def write_gated(bundle: str | Path, name: str, clf: GatedFGSFT, ep: EpochSet, sign_key=None,
                operating_point: dict | None = None, rest: dict | None = None) -> Path:
    """Add the gated decoder to a (new or existing) bundle whose last class is rest."""
    from edge.decoders.gated import gated_arrays

    gate_ep, control_ep = split_gate(ep)
    writer = BundleWriter(bundle, ep.class_names, ep.ch_names, ep.sfreq,
                          rest_class=ep.rest_class)
    ts = isinstance(clf.gate, TangentGate)
    member = writer.add_arrays(f"{name}.npz", gated_arrays(
        clf.gate if ts else clf.gate.model_, clf.control.model_))
    spec = fgsft_spec(clf.control, member, control_ep).to_dict()
    spec["kind"] = "fgsft_gated"
    spec["params"]["gate"] = {"classes": gate_ep.class_names, "kind": "tangent_space_lr",
                              "band_hz": list(TS_BAND), "filter_order": TS_ORDER,
                              "covariance": "OAS", "reference": "Riemannian mean",
                              "lr_C": TS_C} if ts else {
        "classes": gate_ep.class_names, "kind": "fgsft",
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
