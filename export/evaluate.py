"""``mi-export evaluate``: score every decoder of a bundle on labelled recordings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge.bundle import open_bundle
from edge.decoders import decoder_spec, load_decoder
from export.data import load_epochs
from export.metrics import summarize

__all__ = ["evaluate_bundle"]


def evaluate_bundle(
    bundle_path: str | Path,
    data: Sequence[str | Path],
    *,
    runs: Sequence[int] | None = None,
    event_map: dict[int | str, str] | None = None,
    decoders: Sequence[str] | None = None,
) -> dict[str, dict[str, object]]:
    """Run each decoder on the epochs of ``data`` cut at its own window.

    Channels are picked by the bundle's names, classes by the bundle's class names, and the
    data are resampled to the bundle's rate, so any recording that contains them can be used.

    Returns
    -------
    dict
        Decoder name -> :func:`export.metrics.summarize` output.
    """
    bundle = open_bundle(bundle_path)
    out: dict[str, dict[str, object]] = {}
    for name in decoders or bundle.decoder_names:
        dec = load_decoder(bundle, name)
        window = decoder_spec(bundle, name).window
        ep = load_epochs(
            data, channels=bundle.channels, classes=bundle.classes,
            window=(window.tmin, window.tmax), sfreq=bundle.sfreq,
            runs=runs, event_map=event_map,
        )
        proba = dec.predict_proba(ep.X)
        out[name] = summarize(ep.y, proba, bundle.classes, ep.n_samples / ep.sfreq)
        out[name]["kind"] = dec.kind
        out[name]["runs"] = sorted(int(r) for r in set(ep.runs.tolist()))
    return out
