"""The typed spec of one decoder in a bundle's ``manifest.json``.

The exporters build a :class:`DecoderSpec` and write :meth:`DecoderSpec.to_dict`; the edge reads
:meth:`DecoderSpec.from_dict`, so the keys are spelled in one place. ``from_dict`` accepts every
manifest the exporters have written (bundles from before this class included); what the edge
does not interpret (CV scores, quantization reports, ...) is kept in ``extra`` and written back
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.errors import BundleError

__all__ = ["DecoderSpec", "WindowSpec"]


@dataclass(frozen=True)
class WindowSpec:
    """The analysed window relative to the cue at training time.

    Attributes
    ----------
    tmin, tmax : float
        Start and end, s.
    n_samples : int
        Samples per window at the bundle's rate.
    """

    tmin: float
    tmax: float
    n_samples: int

    def to_dict(self) -> dict[str, Any]:
        return {"tmin": self.tmin, "tmax": self.tmax, "n_samples": self.n_samples}


@dataclass(frozen=True)
class DecoderSpec:
    """One decoder of a bundle.

    Attributes
    ----------
    kind : str
        Registered decoder kind (``fgsft``, ``onnx``, ``tflite``).
    members : tuple of str
        Bundle members the decoder needs.
    window : WindowSpec
    arrays : str or None
        ``.npz`` member with the numeric model (FGSFT).
    model : str or None
        Model file member (neural decoders).
    preprocessing : dict
        What the edge runs before the model (neural decoders: the numbers of
        :class:`edge.preprocessing.Preprocessing`; FGSFT: a description).
    params : dict
        Training hyper-parameters and choices, for people and reports.
    extra : dict
        Every other key of the manifest entry (CV scores, tensors, quantization, ...).
    """

    kind: str
    members: tuple[str, ...]
    window: WindowSpec
    arrays: str | None = None
    model: str | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    _KEYS = ("kind", "members", "arrays", "model", "window", "preprocessing", "params")

    @property
    def operating_point(self) -> dict[str, Any] | None:
        """The decision settings chosen at export on the training runs (``smoothing``,
        ``threshold``, ``dwell``, ``refractory_s`` and how they scored), or None: ``mi-edge
        run``'s defaults when its flags do not say otherwise."""
        point = self.extra.get("operating_point")
        return point if isinstance(point, dict) else None

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry (JSON-ready)."""
        out: dict[str, Any] = {"kind": self.kind, "members": list(self.members)}
        if self.arrays is not None:
            out["arrays"] = self.arrays
        if self.model is not None:
            out["model"] = self.model
        out["window"] = self.window.to_dict()
        out["preprocessing"] = dict(self.preprocessing)
        out["params"] = dict(self.params)
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "decoder spec") -> DecoderSpec:
        """Parse a manifest entry.

        Raises
        ------
        BundleError
            Naming the missing or malformed key.
        """
        if not isinstance(d, dict):
            raise BundleError(f"{where}: expected an object, got {type(d).__name__}")

        def need(key: str, obj: dict[str, Any] = d, prefix: str = "") -> Any:
            if key not in obj:
                raise BundleError(f"{where}: spec has no {prefix + key!r}; re-export the bundle")
            return obj[key]

        kind = need("kind")
        if not isinstance(kind, str):
            raise BundleError(f"{where}: 'kind' must be a string, got {kind!r}")
        members = need("members")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise BundleError(f"{where}: 'members' must be a list of member names")
        win = need("window")
        if not isinstance(win, dict):
            raise BundleError(f"{where}: 'window' must be an object")
        try:
            window = WindowSpec(float(need("tmin", win, "window.")),
                                float(need("tmax", win, "window.")),
                                int(need("n_samples", win, "window.")))
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed 'window' {win!r} ({exc})") from exc
        for key in ("arrays", "model"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise BundleError(f"{where}: {key!r} must be a member name, got {d[key]!r}")
        for key in ("preprocessing", "params"):
            if not isinstance(d.get(key, {}), dict):
                raise BundleError(f"{where}: {key!r} must be an object")
        return cls(kind=kind, members=tuple(members), window=window, arrays=d.get("arrays"),
                   model=d.get("model"), preprocessing=dict(d.get("preprocessing", {})),
                   params=dict(d.get("params", {})),
                   extra={k: v for k, v in d.items() if k not in cls._KEYS})
