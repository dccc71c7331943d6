"""Rest as a trained state: where the "no control" windows of a continuous recording lie.

A self-paced decoder must answer "not controlling" while its wearer rests (SPEC 3c). Its
training windows come from the rest periods of continuous recordings (eegmmidb ``T0 rest``,
or the code ``--events`` maps to the rest name): inside each rest period, windows of the
decoder's length start ``guard_s`` after the period's onset (the end of the preceding imagery:
motor-imagery after-effects such as the beta rebound last about a second) and every
``stride_s`` after that, as long as the window ends before the next event.

Each rest window is returned as a *pseudo-cue*: the onset such that the decoder's analysed
window ``[tmin, tmax]`` relative to it is exactly the rest window; the epoching code then cuts
rest windows like cue epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RestWindows", "rest_pseudo_onsets"]


@dataclass(frozen=True)
class RestWindows:
    """How rest windows are taken from continuous recordings (``mi-export ... --rest``).

    Attributes
    ----------
    name : str
        The rest class name (the event name or the ``--events`` name of the rest code).
    guard_s : float
        Skip this long after each rest onset (the end of the imagery before it), s.
    stride_s : float
        Step between the starts of successive rest windows in one rest period, s.
    """

    name: str = "rest"
    guard_s: float = 1.0
    stride_s: float = 4.0

    def __post_init__(self) -> None:
        if self.guard_s < 0 or self.stride_s <= 0:
            raise ValueError(f"rest windows: guard {self.guard_s} s must be >= 0 and stride "
                             f"{self.stride_s} s > 0")

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "guard_s": self.guard_s, "stride_s": self.stride_s,
                "source": "rest periods of continuous recordings, windows from onset + guard "
                          "every stride, ending before the next event"}


def rest_pseudo_onsets(events: np.ndarray, rest_codes: set[int], n_samples: int, sfreq: float,
                       window: tuple[float, float], rest: RestWindows) -> np.ndarray:
    """Pseudo-cue onsets (samples) of the rest windows of one recording.

    Parameters
    ----------
    events : ndarray of int, shape (n_events, 2)
        ``[onset_sample, code]``, in time order.
    rest_codes : set of int
        The codes of rest periods.
    n_samples : int
        Length of the recording (the last period ends there).
    sfreq : float
    window : (float, float)
        The decoder's analysed window relative to the cue, s.
    rest : RestWindows

    Returns
    -------
    ndarray of int, shape (n_windows,)
        For each rest window starting at sample ``s``: ``s - round(window[0] * sfreq)``.
    """
    length = int(round((window[1] - window[0]) * sfreq))
    guard = int(round(rest.guard_s * sfreq))
    stride = max(1, int(round(rest.stride_s * sfreq)))
    shift = int(round(window[0] * sfreq))
    onsets = events[:, 0].astype(np.int64)
    ends = np.append(onsets[1:], n_samples)
    out: list[int] = []
    for onset, end, code in zip(onsets, ends, events[:, 1], strict=True):
        if int(code) not in rest_codes:
            continue
        start = int(onset) + guard
        out.extend(s - shift for s in range(start, int(end) - length + 1, stride))
    return np.asarray(out, dtype=np.int64)
