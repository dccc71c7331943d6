"""The one place where a command's errors become a line on stderr and an exit code.

Every console script (``mi-edge``, ``mi-export``, ``mi-bridge``) runs its command through
:func:`run_command`: a user-caused :class:`edge.errors.MiEdgeError` prints ``PROG: error: ...``
and returns its ``exit_code``; an ``OSError`` (a port or file that cannot be opened, pyserial's
``SerialException`` included) returns :data:`edge.errors.OUTPUT_ERROR`; an unexpected exception
(a bug) prints one line and returns :data:`edge.errors.INTERNAL_ERROR` unless ``verbose`` asks
for the traceback; Ctrl-C returns 130.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from edge.errors import INTERNAL_ERROR, OUTPUT_ERROR, MiEdgeError

__all__ = ["run_command"]


def run_command(prog: str, func: Callable[[Any], int], args: Any, *, verbose: bool = False,
                json_errors: bool = False, interrupted: str = "interrupted",
                user_errors: tuple[type[Exception], ...] = ()) -> int:
    """Run ``func(args)``; ``user_errors`` are further exception types whose message is meant
    for the user (exit 2), e.g. a training configuration that cannot work."""
    try:
        return int(func(args))
    except MiEdgeError as exc:
        if json_errors:
            print(json.dumps({"ok": False, "error": str(exc), "exit_code": exc.exit_code}))
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except user_errors as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a port or file that cannot be opened or written (pyserial's too)
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return OUTPUT_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: one line, never a traceback
        if verbose:
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {exc} (run with -v for the "
              "traceback, and please report it)", file=sys.stderr)
        return INTERNAL_ERROR
