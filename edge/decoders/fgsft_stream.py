"""Causal FGSFT over a stream: each hop filters only the samples that arrived (issue 15).

A causal FGSFT model (``mi-export fgsft --causal``) band-passes forward only, so the filter
state of every band can be carried from one chunk to the next: a sample is filtered once, when
it arrives, instead of once per window it falls in (16 times at a 2 s window and 125 ms hop, and
twice, forward and backward, zero-phase). Per band, the filtered samples are projected onto the
band's spatial filters at once and their squares kept for the last window; a decision is then
one small matrix product per band and the SVMs (:class:`edge.decoders.fgsft_fast.FGSFTPlan`).

The state lives in this small explicit object, as a ring buffer's does: :meth:`FGSFTStream.reset`
forgets it (a gap in the data: the runtime resets the ring buffer and the stream together). The
result equals the model's batch decode of everything pushed since the reset (``predict_proba``
of the whole signal, which filters causally over all of it), to rounding.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FGSFTStream"]


class FGSFTStream:
    """Streaming decode of a causal :class:`edge.decoders.fgsft.FGSFTModel`.

    Parameters
    ----------
    model : FGSFTModel
        With ``causal`` True.
    """

    def __init__(self, model):
        if not model.causal:
            raise ValueError("a zero-phase FGSFT model cannot stream; train with --causal")
        self.model = model
        self.plan = model.fast_plan()
        self.n_samples = model.n_samples
        self._squares = [np.zeros((len(b.cols), self.n_samples)) for b in self.plan.bands]
        self.reset()

    def reset(self) -> None:
        """Forget the filter states and the buffered samples."""
        self._states: list[np.ndarray | None] = [None] * len(self.plan.bands)
        self.pushed = 0

    def push(self, data: np.ndarray) -> None:
        """Filter new samples, (n_channels, n_new), continuing the stream."""
        m = data.shape[-1]
        if m == 0:
            return
        for i, band in enumerate(self.plan.bands):
            x = data if len(band.rows) == data.shape[0] else data[band.rows]
            y, self._states[i] = band.filt.causal(x, self._states[i])
            z = band.proj @ y
            z *= z
            buf = self._squares[i]
            if m >= self.n_samples:
                buf[:] = z[:, -self.n_samples:]
            else:
                buf[:, :-m] = buf[:, m:]
                buf[:, -m:] = z
        self.pushed += m

    def decision_values(self) -> np.ndarray:
        """SVM decision values of the last ``n_samples``, shape (n_members * n_heads,)."""
        if self.pushed < self.n_samples:
            raise ValueError(f"{self.pushed} samples pushed, the window needs {self.n_samples}")
        var = np.empty((1, self.plan.n_features))
        for band, buf in zip(self.plan.bands, self._squares, strict=True):
            var[0, band.cols] = band.window_means(buf)
        return self.plan.from_variances(var)[0]

    def predict_proba(self) -> np.ndarray:
        """Class probabilities of the last window, shape (n_classes,)."""
        return self.model.proba_from_decisions(self.decision_values()[None])[0]
