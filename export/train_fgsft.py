"""``mi-export fgsft``: load calibration data, train FGSFT, write it into a bundle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.decoders.spec import DecoderSpec, WindowSpec
from edge.filterbank import FILTER_ORDER
from export.bundle_writer import BundleWriter
from export.data import EpochSet, file_sha256
from export.fgsft import FGSFTClassifier, FGSFTConfig

__all__ = ["train_fgsft", "write_fgsft", "fgsft_spec"]


def train_fgsft(ep: EpochSet, config: FGSFTConfig,
                progress: Callable[[str], None] | None = None) -> FGSFTClassifier:
    """Train FGSFT on the epochs (exactly the analysed window) of an :class:`EpochSet`.

    Two classes train the paper's binary FGSFT; more train one-vs-rest heads.
    """
    missing = sorted(set(range(len(ep.class_names))) - set(np.unique(ep.y).tolist()))
    if len(ep.class_names) < 2 or missing:
        raise ValueError(f"FGSFT needs trials of every class; classes {ep.class_names}, none of "
                         f"{[ep.class_names[i] for i in missing]}")
    clf = FGSFTClassifier.from_config(config, ep.sfreq, ep.ch_names, progress)
    return clf.fit(ep.X, ep.y, ep.groups)


def fgsft_spec(clf: FGSFTClassifier, member: str, ep: EpochSet) -> DecoderSpec:
    """The manifest spec of a trained FGSFT stored in the ``.npz`` member ``member``."""
    scores = clf.scores_
    svm = "sklearn SVC(kernel='linear', C=1), Platt sigmoid on LOBO decision values"
    params = {
        "grid": scores["grid"],
        "bands_hz": scores["bands"],
        "windows_s": scores["windows_s"],
        "electrode_groups": scores["groups"],
        "n_filters": clf.n_filters,
        "lambda": clf.lam,
        "step_D": clf.step,
        "top_K": clf.n_members,
        "max_fraction": clf.max_fraction,
        "divcsp_max_iter": clf.divcsp_max_iter,
        "svm": svm,
        "chosen_j": scores["chosen_j"],
        "n_segments_used": scores["n_segments_used"],
    }
    if len(clf.classes_) > 2:
        params["svm"] = svm + "; one-vs-rest, one divCSP + SVM + Platt head per class, " \
                              "probabilities normalised to sum 1"
        params["n_classes"] = len(clf.classes_)
    lead = clf._causal_lead() or 0  # causal epochs start with the filters' warm-up
    if lead:
        params["causal_lead_s"] = lead / ep.sfreq
        band_filter = (f"Butterworth order {FILTER_ORDER}, causal (sosfilt), state carried "
                       f"across hops; trained with {lead / ep.sfreq:g} s of warm-up per epoch")
    else:
        band_filter = f"Butterworth order {FILTER_ORDER}, zero-phase (sosfiltfilt), per window"
    return DecoderSpec(
        kind="fgsft",
        members=(member,),
        arrays=member,
        window=WindowSpec(ep.tmin + lead / ep.sfreq, ep.tmax, ep.n_samples - lead),
        preprocessing={
            "band_filter": band_filter,
            "covariance": "uncentred x x' / n per time segment",
            "feature": "-ln(var_k / mean var), divCSP filters",
        },
        params=params,
        extra={"cv": {
            "scheme": f"leave-one-block-out, {scores['n_blocks']} blocks (runs, split if < "
                      f"{clf.min_blocks})",
            "chosen_lobo_accuracy": scores["chosen_lobo_accuracy"],
            "merged_j": scores["merged_j"],
            "merged_lobo_accuracy": scores["merged_lobo_accuracy"],
            "segment_lobo_accuracy": scores["segment_lobo_accuracy"],
        }},
    )


def write_fgsft(bundle: str | Path, name: str, clf: FGSFTClassifier, ep: EpochSet,
                sign_key=None, operating_point: dict | None = None,
                rest: dict | None = None) -> Path:
    """Add the trained decoder to a (new or existing) bundle, signed with ``sign_key`` (an
    Ed25519 private key or its PEM path) if given, with the decision settings chosen on the
    training runs (``operating_point``) and how rest windows were taken (``rest``); returns the
    bundle path. ``ep.rest_class`` makes the bundle's last class "no control"."""
    writer = BundleWriter(bundle, ep.class_names, ep.ch_names, ep.sfreq,
                          rest_class=ep.rest_class)
    member = writer.add_arrays(f"{name}.npz", clf.model_.to_arrays())
    scores = clf.scores_
    spec = fgsft_spec(clf, member, ep).to_dict()
    if operating_point is not None:
        spec["operating_point"] = operating_point
    if rest is not None:
        spec["params"]["rest_windows"] = rest
    provenance = {
        "inputs": [{"file": p.name, "sha256": file_sha256(p)} for p in ep.sources],
        "subjects": ep.subjects,
        "runs": sorted(int(r) for r in np.unique(ep.runs)),
        "n_trials": int(len(ep.y)),
        "class_counts": np.bincount(ep.y, minlength=len(ep.class_names)).tolist(),
        "training_seconds": scores["seconds_total"],
    }
    writer.add_decoder(name, spec, provenance)
    return writer.close(sign_key=sign_key)
