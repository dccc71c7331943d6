"""EEGNet-8,2 (Lawhern et al. 2018), the reference compact net for embedded motor imagery.

Data path for a preprocessed window ``x`` of shape (C, T):

1. temporal ``Conv2d`` (1 x K, F1 = 8 maps, K = sfreq / 2 samples: 64 at 128 Hz, 80 at 160 Hz,
   125 at 250 Hz), batch norm;
2. depthwise spatial ``Conv2d`` (C x 1, depth multiplier D = 2, max-norm 1 on each filter),
   batch norm, ELU, average pooling 4, dropout;
3. separable ``Conv2d``: depthwise (1 x 16) then pointwise (1 x 1) to F2 = 16 maps, batch norm,
   ELU, average pooling 8, dropout;
4. flatten and a dense layer (max-norm 0.25) to the classes.

The max-norm constraints are applied after every optimiser step (:meth:`EEGNet.constrain`,
called by the training loop for any net that has it), as Keras does. ``forward`` returns
logits; the exporters add the softmax. No recurrence and no attention: the whole graph is Conv,
BatchNorm (folded at export), Elu, AveragePool, Gemm, which ONNX Runtime, LiteRT and BrainFlow's
``MLModel`` all run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

__all__ = ["EEGNetConfig", "EEGNet", "temporal_kernel"]


def temporal_kernel(sfreq: float) -> int:
    """The usual temporal kernel: half a second of samples (``round(sfreq / 2)``)."""
    return max(2, int(round(sfreq / 2)))


@dataclass(frozen=True)
class EEGNetConfig:
    """Hyper-parameters (all recorded in the bundle).

    Attributes
    ----------
    n_channels, n_samples, n_classes : int
    kernel_size : int
        K, temporal kernel in samples (:func:`temporal_kernel` of the rate).
    f1, depth, f2 : int
        Temporal maps, spatial depth multiplier, separable maps (8, 2, 16: EEGNet-8,2).
    sep_kernel : int
        Depthwise kernel of the separable conv (16).
    pool1, pool2 : int
        Average-pooling factors (4, 8).
    dropout : float
        0.5 within-subject in the paper (0.25 cross-subject).
    spatial_max_norm, dense_max_norm : float
        Max-norm of each spatial filter (1.0) and of each dense row (0.25).
    """

    n_channels: int
    n_samples: int
    n_classes: int = 2
    kernel_size: int = 64
    f1: int = 8
    depth: int = 2
    f2: int = 16
    sep_kernel: int = 16
    pool1: int = 4
    pool2: int = 8
    dropout: float = 0.5
    spatial_max_norm: float = 1.0
    dense_max_norm: float = 0.25

    def __post_init__(self) -> None:
        if self.kernel_size < 1 or self.sep_kernel < 1:
            raise ValueError("kernel sizes must be positive")
        if self.n_features < 1:
            raise ValueError(f"{self.n_samples} samples pooled by {self.pool1} and {self.pool2} "
                             "leave nothing; use a longer window or less pooling")

    @property
    def n_features(self) -> int:
        """Inputs of the dense layer: F2 x T // (pool1 * pool2)."""
        return self.f2 * (self.n_samples // self.pool1 // self.pool2)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "n_features": self.n_features}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EEGNetConfig:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in fields})

    def with_(self, **changes: Any) -> EEGNetConfig:
        return replace(self, **changes)


class EEGNet(nn.Module):
    """EEGNet-8,2. ``forward(x)`` maps (B, C, T) float32 to logits (B, n_classes)."""

    def __init__(self, cfg: EEGNetConfig):
        super().__init__()
        self.cfg = cfg
        maps = cfg.f1 * cfg.depth
        # 'same' padding (the extra zero of an even kernel on the right, as Keras): one Conv
        # node with its pads in the exported graph
        self.temporal = nn.Conv2d(1, cfg.f1, (1, cfg.kernel_size), padding="same", bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.f1)
        self.spatial = nn.Conv2d(cfg.f1, maps, (cfg.n_channels, 1), groups=cfg.f1, bias=False)
        self.bn2 = nn.BatchNorm2d(maps)
        self.pool1 = nn.AvgPool2d((1, cfg.pool1))
        self.depthwise = nn.Conv2d(maps, maps, (1, cfg.sep_kernel), padding="same", groups=maps,
                                   bias=False)
        self.pointwise = nn.Conv2d(maps, cfg.f2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cfg.f2)
        self.pool2 = nn.AvgPool2d((1, cfg.pool2))
        self.act = nn.ELU()
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.n_features, cfg.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bn1(self.temporal(x.unsqueeze(1)))                # (B, F1, C, T)
        z = self.drop(self.pool1(self.act(self.bn2(self.spatial(z)))))  # (B, F1*D, 1, T/4)
        z = self.pointwise(self.depthwise(z))                            # (B, F2, 1, T/4)
        z = self.drop(self.pool2(self.act(self.bn3(z))))                # (B, F2, 1, T/32)
        return self.fc(z.flatten(1))

    @torch.no_grad()
    def constrain(self) -> None:
        """Max-norm: each spatial filter to ``spatial_max_norm``, each dense row to
        ``dense_max_norm`` (Keras ``max_norm``: rescale only the norms above the bound)."""
        for w, bound in ((self.spatial.weight, self.cfg.spatial_max_norm),
                         (self.fc.weight, self.cfg.dense_max_norm)):
            flat = w.view(w.shape[0], -1)
            norms = flat.norm(dim=1, keepdim=True).clamp(min=1e-12)
            flat.mul_(torch.clamp(bound / norms, max=1.0))
