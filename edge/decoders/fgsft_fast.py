"""The FGSFT decode compiled once per model: the arithmetic of the runtime (issue 15).

:meth:`edge.decoders.fgsft.FGSFTModel.segment_features` is the reference (and what training
uses): per band it filters, then per window a covariance, per segment a sub-matrix, per head a
quadratic form, per member a dot product. That is a few hundred small numpy calls per window.
:class:`FGSFTPlan` computes the same decision values with a few calls per band:

* the band's filter (:class:`edge.filterbank.BandFilter`: sections, ``sosfilt_zi`` and padding
  computed once) runs on the channels the band's segments use; zero-phase, the backward pass
  stops at the earliest sample a segment of the band uses; causal, it runs forward only;
* one projection onto every spatial filter of every segment (and head) of the band:
  ``w' C w = sum_t (w' x_t)^2 / n``, the variance of the projected signal;
* one product of the squared projections with the band's window-averaging matrix gives every
  window's variance (a cumulative sum did the same at 5x the cost: numpy's ``cumsum`` along a
  row is not vectorised);
* the normalised log-variances of all segments at once, and one matrix product for the SVMs
  of all members and heads.

The results equal the reference to rounding (decision values within 1e-9; tested on real
windows in ``tests/test_fgsft_fast.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.filterbank import BandFilter

__all__ = ["BandPlan", "FGSFTPlan"]


@dataclass
class BandPlan:
    """One band's share of the decode.

    Attributes
    ----------
    filt : BandFilter
    rows : ndarray of int, shape (n_rows,)
        Channels the band's segments use.
    start : int
        Earliest window sample any of its segments uses.
    proj : ndarray, shape (n_cols, n_rows)
        Every spatial filter of every segment and head of the band, one per row.
    win_avg : ndarray, shape (n_window_samples, n_windows)
        Column ``i``: ``1 / length`` on the samples of the band's ``i``-th distinct window
        (relative to ``start``), 0 elsewhere.
    win_of_col : ndarray of int, shape (n_cols,)
        Each projection's window (a column of ``win_avg``).
    cols : ndarray of int, shape (n_cols,)
        Position of each projection in the model's feature vector.
    """

    filt: BandFilter
    rows: np.ndarray
    start: int
    proj: np.ndarray
    win_avg: np.ndarray
    win_of_col: np.ndarray
    cols: np.ndarray

    @classmethod
    def build(cls, filt: BandFilter, rows: np.ndarray, start: int, n_samples: int,
              proj: list, spans: list[tuple[int, int]], cols: list[int]) -> BandPlan:
        """From the projections and their ``(start, stop)`` windows in the analysed window."""
        distinct = sorted(set(spans))
        win_avg = np.zeros((n_samples - start, len(distinct)))
        for i, (a, b) in enumerate(distinct):
            win_avg[a - start:b - start, i] = 1.0 / (b - a)
        which = {w: i for i, w in enumerate(distinct)}
        return cls(filt, rows, start, np.array(proj), win_avg,
                   np.array([which[w] for w in spans]), np.array(cols))

    def variances(self, y: np.ndarray, offset: int = 0) -> np.ndarray:
        """Window variances of the projections of filtered rows ``y`` (n, n_rows, T): sample
        ``offset`` of ``y`` is sample ``start`` of the analysed window, or ``offset`` is -1 and
        ``y`` runs backwards from the window's last sample to ``start``. Returns (n, n_cols)."""
        z = np.matmul(self.proj, y[..., offset:] if offset > 0 else y)
        z *= z
        return self.window_means(z, reverse=offset < 0)

    def window_means(self, z2: np.ndarray, reverse: bool = False) -> np.ndarray:
        """Each projection's mean over its window, from squared projections (..., n_cols, T)
        (T runs backwards if ``reverse``). Returns (..., n_cols)."""
        means = np.matmul(z2, self.win_avg[::-1] if reverse else self.win_avg)
        return means[..., np.arange(len(self.cols)), self.win_of_col]


class FGSFTPlan:
    """The decode of an :class:`edge.decoders.fgsft.FGSFTModel`, laid out once.

    Parameters
    ----------
    model : FGSFTModel
    filters : dict of int to BandFilter
        The filter of every band the model uses.
    """

    def __init__(self, model, filters: dict[int, BandFilter]):
        H, n_seg = model.n_heads, len(model.segments)
        d = max(f.shape[1] for f in model.filters)
        self.n_samples = model.n_samples
        self.causal = bool(model.causal)
        self.bands: list[BandPlan] = []
        n_feat, blocks, feat_index = 0, [], {}
        for band in np.unique(model.segments[:, 1]):
            in_band = np.flatnonzero(model.segments[:, 1] == band)
            rows = np.unique(np.concatenate([model.groups[g] for g in model.segments[in_band, 0]]))
            where = {int(c): i for i, c in enumerate(rows)}
            start = 0 if self.causal else int(min(model.windows[model.segments[in_band, 2], 0]))
            proj, spans, cols = [], [], []
            for s in in_band:
                g, _, w = model.segments[s]
                a, b = model.windows[w]
                local = [where[int(c)] for c in model.groups[g]]
                for h in range(H):
                    W = model.filters[h * n_seg + s]
                    for k in range(W.shape[1]):
                        row = np.zeros(len(rows))
                        row[local] = W[:, k]
                        proj.append(row)
                        spans.append((int(a), int(b)))
                        cols.append(n_feat)
                        blocks.append(h * n_seg + s)
                        feat_index[(h, int(s), k)] = n_feat
                        n_feat += 1
            self.bands.append(BandPlan.build(filters[int(band)], rows, start, model.n_samples,
                                             proj, spans, cols))
        self.n_features = n_feat
        # normalisation: each feature's block (segment x head) mean variance
        _, self.block, counts = np.unique(blocks, return_inverse=True, return_counts=True)
        self.block_mean = np.zeros((n_feat, len(counts)))
        self.block_mean[np.arange(n_feat), self.block] = 1.0 / counts[self.block]
        # all SVMs of all members and heads as one matrix (padding features carry no weight)
        self.svm = np.zeros((n_feat, len(model.members) * H))
        for m, member in enumerate(model.members):
            for h in range(H):
                coef = model.coefs[m * H + h].reshape(len(member), d)
                for i, s in enumerate(member):
                    for k in range(d):
                        j = feat_index.get((h, int(s), k))
                        if j is not None:
                            self.svm[j, m * H + h] += coef[i, k]
        self.intercepts = np.asarray(model.intercepts, dtype=np.float64)

    def filtered(self, band: BandPlan, X: np.ndarray) -> np.ndarray:
        """The band's rows of ``X`` (n, C, T) filtered as the model was trained: zero-phase from
        ``band.start`` on, in reverse time order (the order the backward pass leaves them; the
        window sums do not care), or causal over all of ``X``."""
        x = X if len(band.rows) == X.shape[1] else X[:, band.rows]
        if self.causal:
            return band.filt.causal(x.reshape(-1, x.shape[-1]))[0].reshape(x.shape)
        return band.filt.zero_phase_reversed(x, band.start)

    def decision_values(self, X: np.ndarray) -> np.ndarray:
        """SVM decision values (n, n_members * n_heads) of windows ``X`` (n, C, T); causal
        models analyse the last ``n_samples`` of ``X``, filtered over all of it."""
        var = np.empty((len(X), self.n_features))
        offset = X.shape[-1] - self.n_samples if self.causal else -1  # -1: time reversed
        for band in self.bands:
            var[:, band.cols] = band.variances(self.filtered(band, X), offset)
        return self.from_variances(var)

    def from_variances(self, var: np.ndarray) -> np.ndarray:
        """Normalised log-variance features and the SVMs, (n, n_features) -> decision values."""
        np.maximum(var, np.finfo(float).tiny, out=var)
        mean = var @ self.block_mean
        feats = np.log(mean)[:, self.block] - np.log(var)
        return feats @ self.svm + self.intercepts
