"""Signal checks on a window before it is decoded: NaN, railed and flat channels.

OpenBCI convention: a channel is *railed* when its samples sit at the ADC's limit. The Cyton's
ADS1299 at gain 24 spans +/-187,500 µV; the OpenBCI GUI flags a channel railed above 90 % of
that. A window with a NaN, a railed sample or a flat (disconnected) channel is not decoded: the
runtime reports bad signal and makes no decision from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["QualityConfig", "check_window"]

CYTON_FULL_SCALE_UV = 187_500.0


@dataclass(frozen=True)
class QualityConfig:
    railed_uv: float = 0.9 * CYTON_FULL_SCALE_UV
    flat_uv: float = 1e-6  # peak-to-peak below this: the channel carries nothing


def check_window(window: np.ndarray, cfg: QualityConfig, ch_names: list[str]) -> str | None:
    """None when the window is usable, else a short reason naming the channels."""
    finite = np.isfinite(window)
    if not finite.all():
        bad = [ch_names[i] for i in np.flatnonzero(~finite.all(axis=1))]
        return f"NaN/inf samples on {', '.join(bad)}"
    railed = np.abs(window).max(axis=1) >= cfg.railed_uv
    if railed.any():
        return f"railed: {', '.join(ch_names[i] for i in np.flatnonzero(railed))}"
    flat = np.ptp(window, axis=1) < cfg.flat_uv
    if flat.any():
        return f"flat: {', '.join(ch_names[i] for i in np.flatnonzero(flat))}"
    return None
