"""The STFF-DA network (papers/stff-da_motor-imagery_cnn-lstm-attention.txt, section 3).

Data path for one window ``x`` of shape (n_channels, n_samples), already preprocessed by
:class:`edge.preprocessing.Preprocessing`:

1. optional **channel-attention gate** (the abstract weights "features across time and
   channels"; the equations only weight time). Squeeze-and-excitation over electrodes:
   ``g = sigmoid(W2 relu(W1 log(mean_t x^2)))``, ``x <- g * x``. Off by default.
2. **front end**, one of
   * ``"1d"`` (the paper, eq. 1): N layers of ``Conv1d`` with F filters of size K over time,
     the electrodes as input channels, each followed by batch norm, ELU, average pooling and
     dropout;
   * ``"2d"`` (EEGNet-style, the 1D-vs-2D seed): a temporal ``Conv2d`` (1 x K, F1 maps), a
     depthwise spatial ``Conv2d`` (n_channels x 1, depth multiplier D) and then N - 1 of the
     1D temporal layers above. Mathematically it is a factorised 1D convolution; it learns
     differently.
3. **LSTM** over the resulting sequence of T' feature vectors: h_1..h_T'.
4. **additive temporal attention** (eq. 2-3): ``e_i = v' tanh(W_a h_i)``. The paper normalises
   ``alpha_i = e_i / sum_j e_j``, which is undefined for energies of mixed sign (and tanh
   makes them so); we use a softmax, as Bahdanau et al. [5] do. ``h_a = sum_i alpha_i h_i``.
   With attention off (the ablation), ``h_a = h_T'``, the usual CNN-LSTM read-out.
5. **dense + softmax** (eq. 4). :meth:`STFFDANet.forward` returns logits (training uses
   cross-entropy); :class:`export.nets.onnx_export.ProbabilityHead` adds the softmax for
   export, so every exported file outputs class probabilities.

The LSTM can run as ``torch.nn.LSTM`` (exported to the ONNX ``LSTM`` op, which ONNX Runtime's
dynamic quantization turns into ``DynamicQuantizeLSTM``) or unrolled into matrix products
(:class:`UnrolledLSTM`, same parameters) for converters without an LSTM kernel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

__all__ = ["STFFDAConfig", "STFFDANet", "UnrolledLSTM"]


@dataclass(frozen=True)
class STFFDAConfig:
    """Hyper-parameters of the network (all recorded in the bundle).

    Attributes
    ----------
    n_channels, n_samples, n_classes : int
        Input window shape and number of classes.
    front_end : {"1d", "2d"}
    n_filters : int
        F, feature maps of every temporal layer (the 2D front end's spatial layer outputs
        ``f1 * depth`` maps, then F).
    kernel_size : int
        K, temporal kernel of the first layer in samples (odd; later layers use ``K // 2 | 1``).
    n_layers : int
        N, temporal convolution layers (the 2D front end counts its temporal+spatial pair as
        one).
    pool : int
        Average-pooling factor after each layer; T' = n_samples // pool**n_layers.
    f1, depth : int
        2D front end: temporal maps and spatial depth multiplier.
    hidden : int
        LSTM hidden size.
    attention : bool
        Temporal attention on (the paper) or off (read the last hidden state).
    attention_units : int
        Rows of W_a.
    channel_gate : bool
        Squeeze-and-excitation gate over electrodes before the front end.
    gate_reduction : int
        Bottleneck ratio of the gate.
    dropout : float
    """

    n_channels: int
    n_samples: int
    n_classes: int = 2
    front_end: str = "1d"
    n_filters: int = 16
    kernel_size: int = 25
    n_layers: int = 2
    pool: int = 4
    f1: int = 8
    depth: int = 2
    hidden: int = 32
    attention: bool = True
    attention_units: int = 16
    channel_gate: bool = False
    gate_reduction: int = 8
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.front_end not in ("1d", "2d"):
            raise ValueError(f"front_end {self.front_end!r}: expected '1d' or '2d'")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size {self.kernel_size}: expected an odd positive number")
        if self.seq_len < 2:
            raise ValueError(
                f"{self.n_samples} samples pooled {self.n_layers} times by {self.pool} leave "
                f"{self.seq_len} LSTM steps; use a longer window, fewer layers or less pooling")

    @property
    def seq_len(self) -> int:
        """T', the LSTM sequence length."""
        t = self.n_samples
        for _ in range(self.n_layers):
            t //= self.pool
        return t

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seq_len": self.seq_len}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> STFFDAConfig:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in fields})

    def with_(self, **changes: Any) -> STFFDAConfig:
        return replace(self, **changes)


class ChannelGate(nn.Module):
    """Squeeze-and-excitation over electrodes: a weight in (0, 1) per channel per window."""

    def __init__(self, n_channels: int, reduction: int):
        super().__init__()
        mid = max(2, n_channels // reduction)
        self.fc1 = nn.Linear(n_channels, mid)
        self.fc2 = nn.Linear(mid, n_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        s = torch.log(torch.mean(x * x, dim=2) + 1e-4)  # log power per channel
        g = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
        return x * g.unsqueeze(2)


def _temporal_block(c_in: int, c_out: int, k: int, pool: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, k, padding=k // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ELU(),
        nn.AvgPool1d(pool),
        nn.Dropout(dropout),
    )


class FrontEnd1D(nn.Module):
    """Eq. 1: N temporal Conv1d layers, electrodes as input channels."""

    def __init__(self, cfg: STFFDAConfig):
        super().__init__()
        k2 = (cfg.kernel_size // 2) | 1
        layers = [_temporal_block(cfg.n_channels, cfg.n_filters, cfg.kernel_size, cfg.pool,
                                  cfg.dropout)]
        layers += [_temporal_block(cfg.n_filters, cfg.n_filters, k2, cfg.pool, cfg.dropout)
                   for _ in range(cfg.n_layers - 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, F, T')
        return self.layers(x)


class FrontEnd2D(nn.Module):
    """Temporal Conv2d (1 x K) then depthwise spatial Conv2d (C x 1), EEGNet-style."""

    def __init__(self, cfg: STFFDAConfig):
        super().__init__()
        k = cfg.kernel_size
        maps = cfg.f1 * cfg.depth
        self.temporal = nn.Conv2d(1, cfg.f1, (1, k), padding=(0, k // 2), bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.f1)
        self.spatial = nn.Conv2d(cfg.f1, maps, (cfg.n_channels, 1), groups=cfg.f1, bias=False)
        self.bn2 = nn.BatchNorm2d(maps)
        self.act = nn.ELU()
        self.pool = nn.AvgPool2d((1, cfg.pool))
        self.drop = nn.Dropout(cfg.dropout)
        k2 = (k // 2) | 1
        rest = [_temporal_block(maps if i == 0 else cfg.n_filters, cfg.n_filters, k2, cfg.pool,
                                cfg.dropout) for i in range(cfg.n_layers - 1)]
        self.rest = nn.Sequential(*rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) -> (B, F, T')
        z = self.bn1(self.temporal(x.unsqueeze(1)))          # (B, F1, C, T)
        z = self.drop(self.pool(self.act(self.bn2(self.spatial(z)))))  # (B, F1*D, 1, T/p)
        return self.rest(z.squeeze(2))


class UnrolledLSTM(nn.Module):
    """A one-layer, batch-first LSTM written as matrix products over a fixed sequence length.

    Holds the parameters of ``torch.nn.LSTM`` under the same names (``weight_ih_l0``,
    ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``; gate order i, f, g, o), so a state dict
    moves between the two. For converters and runtimes without an LSTM kernel.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:  # (B, T, I)
        # The input projection for all steps at once; no recurrent product and no forget term
        # at the first step (h_0 = c_0 = 0). Converted by litert_torch, this gives one fully
        # connected weight per matrix (not one per step) and a smaller int8 file.
        xw = nn.functional.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)
        n4 = 4 * self.hidden_size
        xw = xw.reshape(x.shape[0], -1)  # (B, T * 4H): a step is a column slice, no reshape
        h: torch.Tensor | None = None
        c: torch.Tensor | None = None
        out = []
        for step in range(x.shape[1]):
            xt = xw[:, step * n4:(step + 1) * n4]  # (B, 4H)
            gates = xt if h is None else xt + nn.functional.linear(h, self.weight_hh_l0)
            # one sigmoid over all four blocks (the g block's is unused): fewer graph ops
            i, f, _, o = torch.sigmoid(gates).chunk(4, dim=1)
            g = torch.tanh(gates[:, 2 * self.hidden_size:3 * self.hidden_size])
            c = i * g if c is None else f * c + i * g
            h = o * torch.tanh(c)
            out.append(h)
        return torch.stack(out, dim=1), None


class TemporalAttention(nn.Module):
    """Eq. 2-3 with a softmax.

    ``alpha = softmax_i(v' tanh(W_a h_i))``, ``h_a = sum_i alpha_i h_i``.
    """

    def __init__(self, hidden: int, units: int):
        super().__init__()
        self.w_a = nn.Linear(hidden, units, bias=False)
        self.v = nn.Linear(units, 1, bias=False)

    def weights(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, T)
        return torch.softmax(self.v(torch.tanh(self.w_a(h))).squeeze(2), dim=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sum(self.weights(h).unsqueeze(2) * h, dim=1)


class STFFDANet(nn.Module):
    """CNN + LSTM + attention. ``forward(x)`` maps (B, C, T) float32 to logits (B, n_classes)."""

    def __init__(self, cfg: STFFDAConfig, unrolled_lstm: bool = False):
        super().__init__()
        self.cfg = cfg
        self.gate = ChannelGate(cfg.n_channels, cfg.gate_reduction) if cfg.channel_gate else None
        self.front = FrontEnd1D(cfg) if cfg.front_end == "1d" else FrontEnd2D(cfg)
        self.lstm: nn.Module
        if unrolled_lstm:
            self.lstm = UnrolledLSTM(cfg.n_filters, cfg.hidden)
        else:
            self.lstm = nn.LSTM(cfg.n_filters, cfg.hidden, batch_first=True)
        self.attn = TemporalAttention(cfg.hidden, cfg.attention_units) if cfg.attention else None
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.hidden, cfg.n_classes)

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """LSTM states h_1..h_T', shape (B, T', hidden)."""
        if self.gate is not None:
            x = self.gate(x)
        z = self.front(x).transpose(1, 2)  # (B, T', F)
        h, _ = self.lstm(z)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.sequence(x)
        h_a = self.attn(h) if self.attn is not None else h[:, -1]
        return self.fc(self.drop(h_a))

    def unrolled(self) -> STFFDANet:
        """An eval-mode copy with :class:`UnrolledLSTM` and the same weights."""
        twin = STFFDANet(self.cfg, unrolled_lstm=True)
        twin.load_state_dict(self.state_dict())
        return twin.eval()
