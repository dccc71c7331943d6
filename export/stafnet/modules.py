"""STAFNet's building blocks, written with plain MatMul/Softmax/elementwise ops so the graph
exports to ONNX opset 16 (layer norm is decomposed by the exporter) and converts to TFLite.

Layouts: the graph module works on ``(B, F, T', C)`` (features, pooled time, electrodes), so the
graph convolution is ``x @ A^T`` with a constant right operand (ONNX Runtime quantizes a MatMul
whose B input is constant); the attention blocks work on tokens ``(B, T', d)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["GraphModule", "TemporalModule", "FusionModule", "ClassifierHead",
           "sinusoidal_encoding", "FeedForward"]


def sinusoidal_encoding(n_pos: int, d: int) -> torch.Tensor:
    """Eq. 2-3 of the paper: ``PE(pos, 2i) = sin(pos / 10000^(2i/d))``, cos for odd i."""
    pos = np.arange(n_pos)[:, None]
    i = np.arange(d)[None]
    angle = pos / np.power(10000.0, (2 * (i // 2)) / d)
    pe = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
    return torch.tensor(pe, dtype=torch.float32)


class FeedForward(nn.Module):
    """Two linear layers with a ReLU (the paper's FFN)."""

    def __init__(self, d: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class Envelope(nn.Module):
    """Time pooling by ``pool`` after a temporal filter bank.

    ``power``: ``log(avgpool(x^2) + eps)`` over windows of ``2 pool`` samples (hop ``pool``),
    the log band power of each filter output (ShallowConvNet's square-pool-log), what motor
    imagery modulates; ``elu``: ``avgpool(elu(x))`` over ``pool`` samples (EEGNet's).
    Both give ``T // pool`` steps.
    """

    def __init__(self, pool: int, mode: str, dims: int):
        super().__init__()
        self.mode = mode
        make = nn.AvgPool1d if dims == 1 else nn.AvgPool2d
        if mode == "power":
            k, p = (2 * pool, pool // 2) if dims == 1 else ((2 * pool, 1), (pool // 2, 0))
            self.pool = make(k, stride=pool if dims == 1 else (pool, 1), padding=p)
        else:
            self.pool = make(pool if dims == 1 else (pool, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "power":
            return torch.log(self.pool(x * x) + 1e-4)
        return self.pool(nn.functional.elu(x))


class GraphLayer(nn.Module):
    """One AGCM layer (eq. 1): ``F_l = TCN(ELU(A F_{l-1} W)) + F_{l-1}``."""

    def __init__(self, f: int, k: int, dropout: float):
        super().__init__()
        self.w = nn.Conv2d(f, f, 1, bias=False)
        self.tcn = nn.Conv2d(f, f, (k, 1), padding=(k // 2, 0), groups=f, bias=False)
        self.bn = nn.BatchNorm2d(f)
        self.act = nn.ELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, a_t: torch.Tensor) -> torch.Tensor:  # (B, F, T', C)
        z = self.act(self.w(torch.matmul(x, a_t)))
        return x + self.drop(self.bn(self.tcn(z)))


class GraphModule(nn.Module):
    """Adaptive graph convolution module (section 2.3.1).

    A per-electrode temporal filter bank (``Conv2d(1, F, (K, 1))``) lifts each electrode's
    signal to F feature maps and pools time by ``pool``; L :class:`GraphLayer` s mix electrodes
    through the normalised adjacency; a spatial read-out (``Conv2d(F, d, (1, C))``) turns the
    (F, C) features of each time step into a d-dimensional token F_S.

    The adjacency ``A`` is a parameter (``adaptive``: learnt by backpropagation with the rest
    of the net, eq. 19-20) or a buffer (``static``). It is used as
    ``rownorm(relu(A))``: non-negative couplings whose rows sum to one.
    """

    def __init__(self, n_channels: int, n_features: int, d: int, kernel: int, pool: int,
                 n_layers: int, graph_kernel: int, adjacency: np.ndarray, adaptive: bool,
                 dropout: float, envelope: str = "power"):
        super().__init__()
        a = torch.tensor(np.asarray(adjacency, dtype=np.float32))
        if a.shape != (n_channels, n_channels):
            raise ValueError(f"adjacency of shape {tuple(a.shape)} for {n_channels} channels")
        self.adaptive = adaptive
        if adaptive:
            self.adjacency = nn.Parameter(a)
        else:
            self.register_buffer("adjacency", a)
        self.lift = nn.Conv2d(1, n_features, (kernel, 1), padding=(kernel // 2, 0), bias=False)
        self.bn = nn.BatchNorm2d(n_features)
        self.act = nn.ELU()
        self.pool = Envelope(pool, envelope, 2)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(GraphLayer(n_features, graph_kernel, dropout)
                                    for _ in range(n_layers))
        self.readout = nn.Conv2d(n_features, d, (1, n_channels), bias=False)
        self.bn_out = nn.BatchNorm2d(d)

        self.register_buffer("frozen_a_t", None, persistent=False)

    def normalised(self) -> torch.Tensor:
        """``rownorm(relu(A))``, (C, C)."""
        a = torch.relu(self.adjacency)
        return a / (a.sum(dim=1, keepdim=True) + 1e-6)

    def freeze_for_export(self) -> None:
        """Store ``rownorm(relu(A))^T`` as a constant, so an exported graph holds one (C, C)
        MatMul weight (int8-quantizable) instead of the normalisation ops."""
        self.register_buffer("frozen_a_t", self.normalised().detach().t().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, T', d)
        z = x.transpose(1, 2).unsqueeze(1)                 # (B, 1, T, C)
        z = self.drop(self.pool(self.bn(self.lift(z))))     # (B, F, T', C)
        a_t = self.frozen_a_t if self.frozen_a_t is not None else self.normalised().t()
        for layer in self.layers:
            z = layer(z, a_t)
        s = self.act(self.bn_out(self.readout(z)))          # (B, d, T', 1)
        return s.squeeze(3).transpose(1, 2)


class MultiHeadSelfAttention(nn.Module):
    """Eq. 5-7, h heads, with explicit MatMul/Softmax (no fused attention op)."""

    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.h, self.dh = n_heads, d // n_heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.out = nn.Linear(d, d)

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, h, T, dh)
        return x.reshape(x.shape[0], x.shape[1], self.h, self.dh).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        s = torch.softmax(torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.dh), dim=3)
        o = torch.matmul(s, v).transpose(1, 2)              # (B, T, h, dh)
        return self.out(o.reshape(x.shape[0], x.shape[1], self.h * self.dh))


class TemporalModule(nn.Module):
    """Temporal self-attention module (section 2.3.2) on a downsampled time axis.

    Tokens: a spatial projection of the C electrodes to d (the paper's ``W^Q/K/V in R^{C x d}``
    act on raw time points; we project once), a depthwise temporal filter (K), batch norm, ELU
    and average pooling by ``pool`` (so T' = T / pool tokens: cheap attention, and the pooled
    rectified output tracks band power, which is what motor imagery modulates). Then eq. 4
    (sinusoidal position encoding), eq. 5-7 (multi-head self-attention), eq. 8-9 (residual,
    layer norm, FFN, layer norm).
    """

    def __init__(self, n_channels: int, d: int, n_heads: int, ff_dim: int, kernel: int,
                 pool: int, n_tokens: int, dropout: float, envelope: str = "power"):
        super().__init__()
        self.project = nn.Conv1d(n_channels, d, 1, bias=False)
        self.filter = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d, bias=False)
        self.bn = nn.BatchNorm1d(d)
        self.pool = Envelope(pool, envelope, 1)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding(n_tokens, d))
        self.attn = MultiHeadSelfAttention(d, n_heads)
        self.ln1 = nn.LayerNorm(d)
        self.ffn = FeedForward(d, ff_dim, dropout)
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, T', d)
        z = self.drop(self.pool(self.bn(self.filter(self.project(x)))))
        z = z.transpose(1, 2) + self.pe                     # eq. 4
        r = self.ln1(self.attn(z) + z)                      # eq. 7-8
        return self.ln2(r + self.drop(self.ffn(r)))         # eq. 9


class FusionModule(nn.Module):
    """Multi-structured transformer fusion (section 2.3.3) and the ablations' fusions.

    ``cross`` (eq. 10-16): ``F_M = w * F_T + (1 - w) * F_S`` with a learnt weight per feature
    (``w = sigmoid(alpha)``, eq. 10); ``Q_S, K_S, Q_T, K_T`` from F_S and F_T, ``V_M`` from F_M
    (eq. 11-12); ``CA_ST = softmax(Q_S K_T^T / sqrt d)``, ``CA_TS = softmax(Q_T K_S^T / sqrt d)``,
    both (T' x T') (eq. 13). Eq. 14 writes ``CA_ST x V_M x CA_TS``, which does not multiply
    for a (T' x d) ``V_M`` unless d = T'; we compose the two score matrices,
    ``V'_M = CA_ST (CA_TS V_M)`` (a row-stochastic product: temporal-to-spatial attention, then
    spatial-to-temporal). Then ``F = LN(V'_M + F_S + F_T)`` (eq. 15) and
    ``LN(F + FFN(F))`` (eq. 16).

    ``add``: ``F = LN(F_S + F_T)``; ``concat``: ``F = LN(Linear([F_S, F_T]))``; a single
    branch (an ablated module): ``F = LN(F_x)``; each followed by the same ``LN(F + FFN(F))``.
    """

    def __init__(self, d: int, ff_dim: int, mode: str, dropout: float):
        super().__init__()
        self.mode = mode
        self.scale = 1.0 / math.sqrt(d)
        if mode == "cross":
            self.alpha = nn.Parameter(torch.zeros(d))
            self.q_s, self.k_s = nn.Linear(d, d), nn.Linear(d, d)
            self.q_t, self.k_t = nn.Linear(d, d), nn.Linear(d, d)
            self.v_m = nn.Linear(d, d)
        elif mode == "concat":
            self.merge = nn.Linear(2 * d, d)
        self.ln1 = nn.LayerNorm(d)
        self.ffn = FeedForward(d, ff_dim, dropout)
        self.ln2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def _cross(self, fs: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.alpha)
        fm = w * ft + (1 - w) * fs                                         # eq. 10
        ca_st = torch.softmax(torch.matmul(self.q_s(fs), self.k_t(ft).transpose(1, 2))
                              * self.scale, dim=2)                          # eq. 13
        ca_ts = torch.softmax(torch.matmul(self.q_t(ft), self.k_s(fs).transpose(1, 2))
                              * self.scale, dim=2)
        v = torch.matmul(ca_st, torch.matmul(ca_ts, self.v_m(fm)))          # eq. 14
        return v + fs + ft

    def forward(self, fs: torch.Tensor | None, ft: torch.Tensor | None) -> torch.Tensor:
        if fs is None or ft is None:
            f = fs if ft is None else ft
        elif self.mode == "cross":
            f = self._cross(fs, ft)
        elif self.mode == "add":
            f = fs + ft
        else:
            f = self.merge(torch.cat([fs, ft], dim=2))
        f = self.ln1(f)                                                     # eq. 15
        return self.ln2(f + self.drop(self.ffn(f)))                         # eq. 16


class ClassifierHead(nn.Module):
    """Section 2.3.4: linear layers (128, 64, 32, classes) on the token average."""

    def __init__(self, d: int, hidden: tuple[int, ...], n_classes: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        width = d
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ELU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, f: torch.Tensor) -> torch.Tensor:  # (B, T', d) -> (B, n_classes)
        return self.layers(f.mean(dim=1))
