"""STAFNet hyper-parameters and ablation options (:class:`STAFNetConfig`), and the builder the
net registry calls (:func:`build_stafnet`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from export.stafnet.adjacency import ADJACENCY_KINDS, adjacency_from_windows

__all__ = ["STAFNetConfig", "ABLATIONS", "GRAPH_MODES", "FUSIONS", "variant"]

GRAPH_MODES = ("adaptive", "static", "none")
FUSIONS = ("cross", "add", "concat")

#: The paper's Table 4 ablations (those that apply), as option sets on the full model.
ABLATIONS: dict[str, dict[str, Any]] = {
    "stafnet": {},
    "no_graph": {"graph": "none"},                                # w/o AGCM
    "no_temporal": {"temporal": False},                           # w/o TSRM
    "static_pli": {"graph": "static", "adjacency": "pli"},        # w/ PLI
    "static_corr": {"graph": "static", "adjacency": "correlation"},
    "fusion_add": {"fusion": "add"},                              # w/ AF
    "fusion_concat": {"fusion": "concat"},                        # w/ CF
}


@dataclass(frozen=True)
class STAFNetConfig:
    """Hyper-parameters of STAFNet (all recorded in the bundle).

    Attributes
    ----------
    n_channels, n_samples, n_classes : int
        Input window shape (preprocessed, (C, T)) and number of classes.
    sfreq : float
        Sampling rate of the window; sets the default kernel and pooling lengths.
    ch_names : tuple of str, optional
        Electrode labels, needed for the ``distance`` adjacency.
    graph : {"adaptive", "static", "none"}
        Adaptive graph module (learnt adjacency, the paper), a frozen adjacency (the "w/ PLI"
        ablation) or no graph module ("w/o AGCM").
    adjacency : {"distance", "correlation", "pli", "identity"}
        Initial (adaptive) or fixed (static) adjacency. ``correlation``/``pli`` are computed
        from training windows: :meth:`with_adjacency_from` stores them in ``adjacency_matrix``.
    adjacency_matrix : tuple of tuple of float, optional
        The data-derived adjacency (C x C).
    temporal : bool
        Temporal self-attention module on (the paper) or off ("w/o TSRM").
    fusion : {"cross", "add", "concat"}
        Multi-structured cross-attention fusion (the paper), additive ("w/ AF") or
        concatenation ("w/ CF") fusion.
    n_graph_layers : int
        L, stacked graph-conv + temporal-conv layers (paper: 6).
    node_features : int
        Feature maps per electrode in the graph module.
    d_model, n_heads, ff_dim : int
        Token width, attention heads and feed-forward width of the attention blocks.
    kernel_size : int, optional
        Temporal filter length in samples (odd); default ``0.15 s`` of samples.
    pool : int, optional
        Downsampling of the time axis before graph layers and attention; default
        ``sfreq / 20`` (20 tokens per second).
    graph_kernel : int
        Temporal-conv length (in pooled steps) inside each graph layer.
    envelope : {"power", "elu"}
        How the filter banks are pooled in time: log band power (square, average, log) or
        ELU then average (EEGNet-style).
    head : tuple of int
        Hidden widths of the classification head (paper: 128, 64, 32).
    dropout : float
    """

    n_channels: int
    n_samples: int
    n_classes: int = 2
    sfreq: float = 160.0
    ch_names: tuple[str, ...] | None = None
    graph: str = "adaptive"
    adjacency: str = "distance"
    adjacency_matrix: tuple[tuple[float, ...], ...] | None = None
    temporal: bool = True
    fusion: str = "cross"
    n_graph_layers: int = 2
    node_features: int = 8
    d_model: int = 16
    n_heads: int = 2
    ff_dim: int = 32
    kernel_size: int | None = None
    pool: int | None = None
    graph_kernel: int = 5
    envelope: str = "power"
    head: tuple[int, ...] = (128, 64, 32)
    dropout: float = 0.25

    def __post_init__(self) -> None:
        if self.graph not in GRAPH_MODES:
            raise ValueError(f"graph {self.graph!r}: expected one of {', '.join(GRAPH_MODES)}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion {self.fusion!r}: expected one of {', '.join(FUSIONS)}")
        if self.envelope not in ("power", "elu"):
            raise ValueError(f"envelope {self.envelope!r}: expected 'power' or 'elu'")
        if self.adjacency not in ADJACENCY_KINDS:
            raise ValueError(f"adjacency {self.adjacency!r}: expected one of "
                             f"{', '.join(ADJACENCY_KINDS)}")
        if self.graph == "none" and not self.temporal:
            raise ValueError("graph='none' and temporal=False leave no module to classify with")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads "
                             f"{self.n_heads}")
        if self.ch_names is not None and len(self.ch_names) != self.n_channels:
            raise ValueError(f"{len(self.ch_names)} channel names for {self.n_channels} "
                             f"channels")
        if self.kernel_size is not None and (self.kernel_size < 1 or self.kernel_size % 2 == 0):
            raise ValueError(f"kernel_size {self.kernel_size}: expected an odd positive number")
        if self.n_tokens < 2:
            raise ValueError(f"{self.n_samples} samples pooled by {self.time_pool} leave "
                             f"{self.n_tokens} time steps; use a longer window or less pooling")
        if self.uses_graph and self.adjacency == "distance" and self.ch_names is None:
            raise ValueError("adjacency='distance' needs ch_names (electrode labels); or use "
                             "adjacency='correlation'/'pli'/'identity'")

    # -- derived sizes ------------------------------------------------------------------------
    @property
    def uses_graph(self) -> bool:
        return self.graph != "none"

    @property
    def kernel(self) -> int:
        """Temporal filter length in samples (odd)."""
        return self.kernel_size if self.kernel_size else int(round(0.15 * self.sfreq)) | 1

    @property
    def time_pool(self) -> int:
        return self.pool if self.pool else max(1, int(round(self.sfreq / 20)))

    @property
    def n_tokens(self) -> int:
        """T', the number of time steps the graph layers and attention see."""
        return self.n_samples // self.time_pool

    @property
    def needs_data(self) -> bool:
        """Whether the adjacency must be computed from training windows first."""
        return (self.uses_graph and self.adjacency in ("correlation", "pli")
                and self.adjacency_matrix is None)

    def initial_adjacency(self) -> np.ndarray:
        """The (C, C) matrix the graph module starts from."""
        from export.stafnet.adjacency import distance_adjacency

        if self.adjacency_matrix is not None:
            return np.asarray(self.adjacency_matrix, dtype=np.float32)
        if self.adjacency == "distance":
            return distance_adjacency(self.ch_names or ())
        if self.adjacency == "identity":
            return np.eye(self.n_channels, dtype=np.float32)
        raise ValueError(f"adjacency {self.adjacency!r} is computed from training windows: "
                         f"call cfg.with_adjacency_from(windows) before building the net")

    # -- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(kernel=self.kernel, time_pool=self.time_pool, n_tokens=self.n_tokens,
                 ch_names=list(self.ch_names) if self.ch_names else None, head=list(self.head))
        if self.adjacency_matrix is not None:
            d["adjacency_matrix"] = [[round(v, 5) for v in row] for row in self.adjacency_matrix]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> STAFNetConfig:
        fields = cls.__dataclass_fields__
        kw = {k: v for k, v in d.items() if k in fields}
        if kw.get("ch_names") is not None:
            kw["ch_names"] = tuple(kw["ch_names"])
        if "head" in kw:
            kw["head"] = tuple(kw["head"])
        if kw.get("adjacency_matrix") is not None:
            kw["adjacency_matrix"] = tuple(tuple(float(v) for v in r)
                                           for r in kw["adjacency_matrix"])
        return cls(**kw)

    def with_(self, **changes: Any) -> STAFNetConfig:
        return replace(self, **changes)

    def with_adjacency_from(self, windows: np.ndarray) -> STAFNetConfig:
        """This config with its data-derived adjacency computed from preprocessed training
        windows (n, C, T); unchanged when the adjacency needs no data."""
        if not self.needs_data:
            return self
        a = adjacency_from_windows(self.adjacency, windows)
        return replace(self, adjacency_matrix=tuple(tuple(float(v) for v in r) for r in a))

    @classmethod
    def for_data(cls, n_channels: int, n_samples: int, n_classes: int, sfreq: float,
                 ch_names: Sequence[str] | None, **options: Any) -> STAFNetConfig:
        return cls(n_channels, n_samples, n_classes, float(sfreq),
                   tuple(ch_names) if ch_names is not None else None, **options)


def variant(cfg: STAFNetConfig, name: str) -> STAFNetConfig:
    """``cfg`` with the options of the ablation ``name`` (:data:`ABLATIONS`)."""
    if name not in ABLATIONS:
        raise ValueError(f"unknown STAFNet variant {name!r}: {', '.join(ABLATIONS)}")
    return cfg.with_(**ABLATIONS[name])
