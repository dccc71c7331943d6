"""The compiled second-order-section filter kernel, loaded without ``scipy.signal``.

``import scipy.signal`` loads about 530 scipy modules (78 MiB over numpy). The runtime needs one
function of it: the Cython loop behind ``scipy.signal.sosfilt``, ``_sosfilt(sos, x, zi)``, which
filters the rows of ``x`` (n_signals, n_samples) in place and leaves the final state in ``zi``
(n_signals, n_sections, 2). We load that extension module straight from its file, which does
not run ``scipy/signal/__init__.py``.

The kernel is private scipy API. If it moves or changes signature, :func:`load_kernel` falls
back to a wrapper around the public ``scipy.signal.sosfilt`` with the same in-place contract
(same arithmetic, same results, only the per-call setup and the big import come back);
``tests/test_filterbank_fast.py`` runs both.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["Kernel", "load_kernel", "public_kernel", "kernel"]

log = logging.getLogger(__name__)

#: ``kernel(sos, x, zi)``: filter ``x`` in place, final state into ``zi``.
Kernel = Callable[[np.ndarray, np.ndarray, np.ndarray], None]

_MODULE = "scipy.signal._sosfilt"


def public_kernel(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> None:
    """The kernel's contract through the public API (the fallback)."""
    from scipy.signal import sosfilt

    y, zf = sosfilt(sos, x, axis=-1, zi=np.moveaxis(zi, (0, 1, 2), (1, 0, 2)))
    x[...] = y
    zi[...] = np.moveaxis(zf, (0, 1, 2), (1, 0, 2))


def _compiled() -> Kernel:
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scipy not installed")
    folder = Path(list(spec.submodule_search_locations)[0]) / "signal"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"_sosfilt{suffix}"
        if path.is_file():
            break
    else:
        raise ImportError(f"no compiled _sosfilt in {folder}")
    loader = importlib.machinery.ExtensionFileLoader(_MODULE, str(path))
    module_spec = importlib.util.spec_from_file_location(_MODULE, str(path), loader=loader)
    module = importlib.util.module_from_spec(module_spec)
    loader.exec_module(module)
    return module._sosfilt


def _self_test(k: Kernel) -> None:
    """One section, one impulse: catches a kernel whose signature or layout changed."""
    sos = np.array([[1.0, 0.5, 0.0, 1.0, -0.5, 0.0]])
    x = np.array([[1.0, 0.0, 0.0]])
    zi = np.zeros((1, 1, 2))
    k(sos, x, zi)
    if not np.allclose(x, [[1.0, 1.0, 0.5]]):
        raise ValueError(f"unexpected impulse response {x.tolist()}")


def load_kernel(prefer_compiled: bool = True) -> Kernel:
    """The compiled kernel if it loads and passes a self-test, else :func:`public_kernel`."""
    if prefer_compiled:
        try:
            k = _compiled()
            _self_test(k)
            return k
        except Exception as exc:  # noqa: BLE001 - any failure means: use the public API
            log.warning("compiled sosfilt kernel unavailable (%s); using scipy.signal.sosfilt",
                        exc)
    return public_kernel


_KERNEL: Kernel | None = None


def kernel() -> Kernel:
    """The process-wide kernel, loaded on first use."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = load_kernel()
    return _KERNEL
