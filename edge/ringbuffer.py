"""Ring buffer of the latest samples: the runtime's only sample store.

Preallocated once; ``push`` copies a chunk in (at most two slice assignments), ``latest``
copies the newest ``n`` samples into a caller-provided window. Nothing allocates per sample.
Markers are not kept here: no window consumer reads them; the runtime hands each chunk, with
its markers and sample position, to its observers (:mod:`edge.observers`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["RingBuffer"]


class RingBuffer:
    """Fixed-capacity buffer of multichannel samples with their timestamps.

    Parameters
    ----------
    n_channels : int
    capacity : int
        Samples kept (at least the longest decoder window).
    """

    def __init__(self, n_channels: int, capacity: int):
        self.capacity = int(capacity)
        self.data = np.zeros((n_channels, self.capacity))
        self.timestamps = np.zeros(self.capacity)
        self.total = 0  # samples pushed since creation (or reset)

    def reset(self) -> None:
        """Forget everything (after a fault: no window may straddle the gap)."""
        self.total = 0

    @property
    def filled(self) -> int:
        return min(self.total, self.capacity)

    def push(self, data: np.ndarray, timestamps: np.ndarray) -> None:
        """Append samples (data: (n_channels, n), timestamps: (n,))."""
        n = data.shape[1]
        if n == 0:
            return
        if n > self.capacity:  # only the newest capacity samples can matter
            data, timestamps = data[:, -self.capacity:], timestamps[-self.capacity:]
            self.total += n - self.capacity
            n = self.capacity
        start = self.total % self.capacity
        first = min(n, self.capacity - start)
        self.data[:, start:start + first] = data[:, :first]
        self.timestamps[start:start + first] = timestamps[:first]
        if first < n:
            rest = n - first
            self.data[:, :rest] = data[:, first:]
            self.timestamps[:rest] = timestamps[first:]
        self.total += n

    def latest(self, n: int, out: np.ndarray) -> np.ndarray:
        """Copy the newest ``n`` samples into ``out`` (n_channels, n) and return it."""
        if n > self.filled:
            raise ValueError(f"asked for {n} samples, {self.filled} buffered")
        end = self.total % self.capacity
        start = end - n
        if start >= 0:
            out[:] = self.data[:, start:end]
        else:
            out[:, :-start] = self.data[:, start:]
            out[:, -start:] = self.data[:, :end]
        return out

    def newest_timestamp(self) -> float:
        return float(self.timestamps[(self.total - 1) % self.capacity]) if self.total else 0.0
