"""A two-stage self-paced decoder: a control-vs-rest gate in front of a command decoder.

The command stage is an FGSFT model (:class:`edge.decoders.fgsft.FGSFTModel`, prefix
``control__``: the commands, e.g. left/right); the gate (classes: control, rest) is either a
Riemannian tangent-space gate (:class:`edge.decoders.tangent.TangentGate`, prefix
``gate_ts__``, what ``mi-export fgsft --rest`` trains) or an FGSFT (prefix ``gate__``), all in
one ``.npz`` member. The output covers the bundle's classes, the rest class last::

    p(command k) = p_gate(control) * p_control(k),    p(rest) = p_gate(rest)

so the decision layer sees one posterior, as with a 3-class decoder, and never sends rest.
"""

from __future__ import annotations

import numpy as np

from edge.bundle import Bundle
from edge.decoders.base import check_window, register_kind
from edge.decoders.fgsft import FGSFTModel
from edge.decoders.spec import DecoderSpec
from edge.decoders.tangent import TangentGate
from edge.errors import BundleError

__all__ = ["GatedFGSFTDecoder", "gated_arrays", "GATE", "GATE_TS", "CONTROL"]

GATE, GATE_TS, CONTROL = "gate__", "gate_ts__", "control__"


def gated_arrays(gate: FGSFTModel | TangentGate, control: FGSFTModel) -> dict[str, np.ndarray]:
    """The arrays of both stages, prefixed, for one ``.npz`` member."""
    prefix = GATE_TS if isinstance(gate, TangentGate) else GATE
    out = {prefix + k: v for k, v in gate.to_arrays().items()}
    out.update({CONTROL + k: v for k, v in control.to_arrays().items()})
    return out


def _stage(arrays, prefix: str, model=FGSFTModel):
    keys = [k for k in arrays if k.startswith(prefix)]
    return model.from_arrays({k[len(prefix):]: arrays[k] for k in keys})


def _gate(arrays) -> FGSFTModel | TangentGate:
    if any(k.startswith(GATE_TS) for k in arrays):
        return _stage(arrays, GATE_TS, TangentGate)
    return _stage(arrays, GATE)


@register_kind("fgsft_gated")
class GatedFGSFTDecoder:
    """Gate (control vs rest) times command decoder; the rest class is the bundle's last."""

    kind = "fgsft_gated"

    def __init__(self, name: str, gate: FGSFTModel | TangentGate, control: FGSFTModel,
                 classes: list[str],
                 tmin: float):
        self.name = name
        self.gate, self.control = gate, control
        self.classes_ = list(classes)
        self.n_channels = control.n_channels
        self.n_samples = control.n_samples
        self.tmin = tmin

    @property
    def classes(self) -> list[str]:
        return self.classes_

    @classmethod
    def from_bundle(cls, bundle: Bundle, name: str, spec: DecoderSpec) -> GatedFGSFTDecoder:
        member = spec.arrays
        if member is None:
            raise BundleError(f"{bundle.path}: decoder {name}: spec has no 'arrays' member")
        if bundle.rest_class is None:
            raise BundleError(f"{bundle.path}: decoder {name}: a gated decoder needs the "
                              "bundle's rest_class")
        try:
            arrays = bundle.load_arrays(member)
            gate, control = _gate(arrays), _stage(arrays, CONTROL)
        except (KeyError, ValueError, TypeError) as exc:
            raise BundleError(f"{bundle.path}: member {member}: inconsistent gated FGSFT "
                              f"arrays ({exc})") from exc
        if gate.n_classes != 2 or control.n_classes != len(bundle.classes) - 1:
            raise BundleError(f"{bundle.path}: member {member}: gate of {gate.n_classes} and "
                              f"commands of {control.n_classes} classes; the bundle has "
                              f"{len(bundle.classes)} classes, rest included")
        for model in (gate, control):
            if model.n_channels != len(bundle.channels) or model.n_samples != \
                    control.n_samples or not np.isclose(model.sfreq, bundle.sfreq):
                raise BundleError(f"{bundle.path}: member {member}: a stage does not match "
                                  "the bundle's channels, rate or window")
        return cls(name, gate, control, bundle.classes, spec.window.tmin)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n_windows, n_channels, n_samples) -> (n_windows, n_commands + 1), rest last."""
        X = check_window(X, self.n_channels, self.n_samples, self.name)
        p_control = self.gate.predict_proba(X)[:, :1]
        return np.hstack([p_control * self.control.predict_proba(X), 1.0 - p_control])
