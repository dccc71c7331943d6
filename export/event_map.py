"""The ``--events`` cue map: which events of a continuous recording are cues of which class.

A map names events by code or by name: ``769=left_hand,770=right_hand`` (codes, as in the
npz and BrainFlow files: marker value - 1) or ``T1=left_hand,T2=right_hand`` (annotation
descriptions of an EDF/GDF/FIF file, or the first word of eegmmidb-style ``'T1 left_hand'``
names). A numeric key that is itself an event's name (GDF files annotate ``769``) means that
event.
"""

from __future__ import annotations

from pathlib import Path

from export.errors import DataError

__all__ = ["EventMap", "parse_event_map", "resolve_event_map"]

#: event code or event name -> class name
EventMap = dict[int | str, str]


def parse_event_map(spec: str | None) -> EventMap | None:
    """Parse ``"769=left_hand,T2=right_hand"`` into ``{769: "left_hand", "T2": "right_hand"}``.

    Keys made of digits (with an optional sign) become ints, anything else stays a name.
    """
    if not spec:
        return None
    out: EventMap = {}
    for part in spec.split(","):
        key, sep, name = (s.strip() for s in part.partition("="))
        if not sep or not key or not name:
            raise DataError(f"event map {spec!r}: expected CODE=CLASS or NAME=CLASS, "
                             "comma-separated (e.g. 1=left_hand,2=right_hand or "
                             "T1=left_hand,T2=right_hand)")
        out[int(key) if key.lstrip("-").isdigit() else key] = name
    return out


def resolve_event_map(mapping: EventMap, event_names: list[str],
                      source: Path | str = "recording") -> dict[int, str]:
    """Event code -> class name for a recording whose code ``c`` is named ``event_names[c]``.

    Raises DataError naming the recording's events when a name matches none of them.
    """
    by_name: dict[str, int] = {}
    for code, text in enumerate(event_names):
        by_name.setdefault(text.strip(), code)
        by_name.setdefault(text.strip().split(" ")[0], code)  # 'T1 left_hand' -> 'T1'
    out: dict[int, str] = {}
    for key, cls in mapping.items():
        if str(key) in by_name:
            out[by_name[str(key)]] = cls
        elif isinstance(key, int):
            out[key] = cls
        else:
            raise DataError(f"{source}: no event named {key!r}; its events are "
                             f"{', '.join(repr(n) for n in event_names) or 'none'}")
    return out
