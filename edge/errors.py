"""Errors a user can cause. The CLIs turn each into one line and a non-zero exit code.

Exit codes (README, "Refusals and exit codes"): 0 ok, 1 other runtime error, 2 usage (a bad
option value), 3 bundle refused, 4 input (data, window, channels, board settings), 5 the EEG
source failed, 6 an output cannot be opened, 70 internal error (a bug: please report it),
130 interrupted.
"""


class MiEdgeError(Exception):
    """Base of every user-facing mi-edge error. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class BundleError(MiEdgeError):
    """The bundle is missing, corrupt, truncated, tampered with, or from a newer schema."""

    exit_code = 3


class DecoderUnavailable(BundleError):
    """The bundle is sound but this device lacks what one of its decoders needs (a TFLite
    interpreter): refused for the decoder that would run, a warning for the others."""


class InputError(MiEdgeError):
    """A window or recording does not match what the bundle expects (channels, rate, shape)."""

    exit_code = 4


class UsageError(MiEdgeError):
    """An option value that cannot work (a hop shorter than a sample, a heartbeat the device
    would time out on); argparse's own refusals use the same code."""

    exit_code = 2


#: Exit code of a port or file that cannot be opened or written (SinkError).
OUTPUT_ERROR = 6

#: Exit code of an unexpected exception: a bug, reported in one line (``-v`` for the traceback).
INTERNAL_ERROR = 70
