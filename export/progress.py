"""Progress lines for long export work: elapsed time, to stderr (stdout stays for results)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

__all__ = ["progress_printer"]


def progress_printer(quiet: bool = False) -> Callable[[str], None]:
    """A ``report(msg)`` that prints ``[  12.3s] msg`` to stderr, or nothing when ``quiet``."""
    start = time.perf_counter()

    def report(msg: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return report
