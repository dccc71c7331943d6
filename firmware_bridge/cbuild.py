"""Build the C library from Python: host tests, the vector runner, the AVR cross-compile.

Thin wrapper over ``c/Makefile`` so that the tests, the benchmark and ``mi-bridge c-build`` use
the same commands a firmware engineer types.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

C_DIR = Path(__file__).with_name("c")


class CBuildError(RuntimeError):
    """The C build or its tests failed; the message carries the compiler output."""


def missing_tools(avr: bool = False) -> list[str]:
    """Tools absent from PATH (``make``, ``gcc``, and with ``avr`` ``avr-gcc``, ``avr-size``)."""
    tools = ["make", "gcc"] + (["avr-gcc", "avr-size"] if avr else [])
    return [tool for tool in tools if shutil.which(tool) is None]


def make(targets: list[str], build_dir: Path | None = None) -> str:
    """Run ``make -C c/ TARGETS BUILD=build_dir``; returns its output, raises CBuildError."""
    cmd = ["make", "--no-print-directory", "-C", str(C_DIR), *targets]
    if build_dir is not None:
        cmd.append(f"BUILD={Path(build_dir).resolve()}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise CBuildError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{output}")
    return output


def build_runner(build_dir: Path) -> Path:
    """Build ``vector_runner`` into ``build_dir`` and return its path."""
    make(["runner"], build_dir)
    return Path(build_dir).resolve() / "vector_runner"


def avr_usage(output: str) -> dict[str, int]:
    """Flash and RAM bytes of the receiver image, parsed from ``make avr`` output."""
    """Lines prefixed ``MAC `` are the MI_BRIDGE_WITH_MAC build: ``mac_flash_bytes`` etc."""
    usage = {}
    for line in output.splitlines():
        prefix = ""
        if line.startswith("MAC "):
            prefix, line = "mac_", line[4:]
        parts = line.split()
        if line.startswith("Program:"):
            usage[prefix + "flash_bytes"] = int(parts[1])
        elif line.startswith("Data:"):
            usage[prefix + "ram_bytes"] = int(parts[1])
    return usage
