"""Errors a user can cause. The CLIs turn each into one line and a non-zero exit code."""


class MiEdgeError(Exception):
    """Base of every user-facing mi-edge error. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class BundleError(MiEdgeError):
    """The bundle is missing, corrupt, truncated, tampered with, or from a newer schema."""

    exit_code = 3


class InputError(MiEdgeError):
    """A window or recording does not match what the bundle expects (channels, rate, shape)."""

    exit_code = 4
