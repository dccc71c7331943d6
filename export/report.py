"""``mi-export report``: the pictures Liu et al. 2025 derive from the wrapper scores.

* Fine-grained MI time-frequency reaction map: every time-frequency pixel is the mean LOBO
  accuracy of the segments (all electrode groups) whose band and window cover it.
* Electrode-group significance map: per electrode group, the share of its segments whose LOBO
  accuracy is significantly above chance (one-sided binomial test, alpha = 0.05, on the number
  of training trials), drawn on the scalp (each electrode coloured by the best group containing
  it) and as a bar chart.

Both are computed from ``cv.segment_lobo_accuracy`` in the bundle manifest, so a report can be
drawn for any bundle without the training data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import binom

from edge.bundle import open_bundle

__all__ = ["reaction_map", "group_significance", "write_report"]


def reaction_map(acc: np.ndarray, bands: list[list[float]], windows_s: list[list[float]],
                 t0: float, f_res: float = 0.5, t_res: float = 0.01):
    """Mean accuracy of the segments covering each (frequency, time) pixel.

    Parameters
    ----------
    acc : ndarray, shape (n_bands, n_windows, n_groups)
    bands : list of [low, high] Hz
    windows_s : list of [start, stop] s within the epoch
    t0 : float
        Epoch start relative to the cue (s), to label the time axis.

    Returns
    -------
    freqs, times, image (n_freqs, n_times)
    """
    f_lo = min(b[0] for b in bands)
    f_hi = max(b[1] for b in bands)
    t_hi = max(w[1] for w in windows_s)
    freqs = np.arange(f_lo + f_res / 2, f_hi, f_res)
    times = np.arange(t_res / 2, t_hi, t_res)
    total = np.zeros((len(freqs), len(times)))
    count = np.zeros_like(total)
    mean_over_groups = acc.mean(axis=2)
    for b, (lo, hi) in enumerate(bands):
        fmask = (freqs >= lo) & (freqs < hi)
        for w, (start, stop) in enumerate(windows_s):
            tmask = (times >= start) & (times < stop)
            total[np.ix_(fmask, tmask)] += mean_over_groups[b, w]
            count[np.ix_(fmask, tmask)] += 1
    image = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return freqs, times + t0, image


def group_significance(acc: np.ndarray, n_trials: int, alpha: float = 0.05) -> np.ndarray:
    """Share of each group's segments above chance (binomial test), shape (n_groups,)."""
    threshold = binom.ppf(1 - alpha, n_trials, 0.5) / n_trials
    return (acc > threshold).reshape(-1, acc.shape[2]).mean(axis=0)


def _positions(names: list[str]) -> dict[str, tuple[float, float]]:
    """2-D scalp positions from MNE's standard 10-05 montage when MNE is installed."""
    try:
        import mne  # benchmark/report extra; not needed to train or run
    except ImportError:
        return {}
    builtin = mne.channels.get_builtin_montages()
    name = "colin27_1005" if "colin27_1005" in builtin else "standard_1005"  # MNE >= 1.13 naming
    montage = mne.channels.make_standard_montage(name)
    pos = {k.lower(): v for k, v in montage.get_positions()["ch_pos"].items()}
    out = {}
    for n in names:
        p = pos.get(n.lower())
        if p is not None:
            out[n] = (float(p[0]), float(p[1]))
    return out


def write_report(bundle_path: str | Path, out_dir: str | Path,
                 decoder: str = "fgsft") -> list[Path]:
    """Draw the two maps of an FGSFT decoder as PNG files; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bundle = open_bundle(bundle_path)
    spec = bundle.decoder_spec(decoder)
    if spec.get("kind") != "fgsft":
        raise ValueError(f"decoder {decoder} is {spec.get('kind')}; reports are drawn for FGSFT")
    acc = np.array(spec["cv"]["segment_lobo_accuracy"])
    params = spec["params"]
    n_trials = int(bundle.manifest["provenance"][decoder]["n_trials"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    freqs, times, image = reaction_map(acc, params["bands_hz"], params["windows_s"],
                                       float(spec["window"]["tmin"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    mesh = ax.pcolormesh(times, freqs, image, shading="nearest", cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="mean LOBO accuracy of covering segments")
    ax.set_xlabel("time after cue (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(f"Fine-grained MI time-frequency reaction map ({', '.join(bundle.classes)})")
    fig.tight_layout()
    paths.append(out / "time_frequency_reaction_map.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    groups = params["electrode_groups"]
    share = group_significance(acc, n_trials)
    names = [g["name"] for g in groups]
    pos = _positions(bundle.channels)
    fig, axes = plt.subplots(1, 2 if pos else 1, figsize=(11 if pos else 6, 4.8), squeeze=False)
    ax = axes[0, 0]
    ax.barh(names, share, color="tab:blue")
    ax.set_xlabel("share of segments above chance (binomial, p < 0.05)")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title("Electrode-group significance")
    if pos:
        ax = axes[0, 1]
        best = {ch: 0.0 for ch in bundle.channels}
        for g, s in zip(groups, share, strict=True):
            for ch in g["channels"]:
                best[ch] = max(best[ch], float(s))
        xy = np.array([pos[c] for c in pos])
        centre = np.array(pos.get("Cz", xy.mean(axis=0)))
        xy = xy - centre
        radius = 1.08 * np.max(np.linalg.norm(xy, axis=1))
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=[best[c] for c in pos], s=150, cmap="viridis",
                        vmin=0, vmax=max(1e-6, max(best.values())), edgecolors="k")
        for c, (x, y) in zip(pos, xy, strict=True):
            ax.annotate(c, (x, y - 0.012 * radius / 0.1), ha="center", va="top", fontsize=5)
        ax.add_patch(plt.Circle((0, 0), radius, fill=False))
        ax.plot([-0.08 * radius, 0, 0.08 * radius], [radius, 1.1 * radius, radius], "k-")  # nose
        ax.set_aspect("equal")
        ax.axis("off")
        fig.colorbar(sc, ax=ax, label="best significant share of a group containing it")
        ax.set_title("Time-frequency topographic significance")
    fig.tight_layout()
    paths.append(out / "electrode_group_significance.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
