"""The exporter's error for recordings that cannot be used as asked."""

from __future__ import annotations

from edge.errors import InputError

__all__ = ["DataError"]


class DataError(InputError, ValueError):
    """A recording cannot be used as asked: bad file, missing channel, class or window."""
