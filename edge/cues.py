"""Cues of a calibration session: large terminal banners and generated sounds.

A user with a headset on may not look at a screen, so every cue is also a sound, different per
class: the warning tone is a short 1 kHz beep; class ``k`` is ``k + 1`` beeps of its own pitch
(left hand: one low 440 Hz tone, right hand: two 880 Hz tones, then 660, 1320, 550, ... Hz).
The sounds are generated here (numpy, 16-bit mono WAV in a temporary folder; no assets) and
played without waiting by the first player found (``paplay``, ``pw-play``, ``aplay``,
``afplay``, ``play``); without one the terminal bell rings ``k + 1`` times. ``sound=False``
(``--no-sound``) plays nothing: headless machines and tests.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path
from typing import TextIO

import numpy as np

__all__ = ["TerminalCues", "SoundCues", "tone", "write_wav", "arrow_direction",
           "CLASS_PITCH_HZ"]

log = logging.getLogger(__name__)

RATE = 22050
WARNING_HZ = 1000.0
#: Pitch of class k's beeps (cycled beyond the list).
CLASS_PITCH_HZ = (440.0, 880.0, 660.0, 1320.0, 550.0, 990.0)
PLAYERS = (("paplay",), ("pw-play",), ("aplay", "-q"), ("afplay",), ("play", "-q"))

_ARROWS = {
    "left": ["      ##            ", "    ####            ", "  ################  ",
             "    ####            ", "      ##            "],
    "right": ["            ##      ", "            ####    ", "  ################  ",
              "            ####    ", "            ##      "],
    "feet": ["       ######       ", "       ######       ", "   ##############   ",
             "     ##########     ", "        ####        "],
    "up": ["        ####        ", "     ##########     ", "   ##############   ",
           "       ######       ", "       ######       "],
}


def tone(freq_hz: float, seconds: float, beeps: int = 1, gap_s: float = 0.08) -> np.ndarray:
    """``beeps`` sine bursts of ``freq_hz`` with 5 ms fades, float in [-1, 1], at 22,050 Hz."""
    n = int(RATE * seconds)
    t = np.arange(n) / RATE
    burst = 0.6 * np.sin(2 * np.pi * freq_hz * t)
    fade = min(n // 2, int(0.005 * RATE))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        burst[:fade] *= ramp
        burst[n - fade:] *= ramp[::-1]
    gap = np.zeros(int(RATE * gap_s))
    parts = [burst] + [np.concatenate([gap, burst]) for _ in range(beeps - 1)]
    return np.concatenate(parts)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16-bit mono PCM WAV at 22,050 Hz."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return path


class SoundCues:
    """The warning tone and one sound per class (module docstring)."""

    def __init__(self, classes: list[str], enabled: bool = True, stream: TextIO | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.player = next((p for p in PLAYERS if shutil.which(p[0])), None) if enabled else None
        self._dir = tempfile.TemporaryDirectory(prefix="mi-edge-cues-") if self.player else None
        self._files: dict[str, Path] = {}
        if self._dir is not None:
            folder = Path(self._dir.name)
            self._files["warning"] = write_wav(folder / "warning.wav", tone(WARNING_HZ, 0.07))
            for k, name in enumerate(classes):
                pitch = CLASS_PITCH_HZ[k % len(CLASS_PITCH_HZ)]
                self._files[name] = write_wav(folder / f"class{k}.wav",
                                              tone(pitch, 0.25, beeps=k + 1))
        self._beeps = {name: k + 1 for k, name in enumerate(classes)} | {"warning": 1}

    @property
    def how(self) -> str:
        if not self.enabled:
            return "off"
        return self.player[0] if self.player else "terminal bell"

    def play(self, name: str) -> None:
        """Start the sound of ``name`` (a class or ``warning``) without waiting for it."""
        if not self.enabled:
            return
        if self.player is None:
            self.stream.write("\a" * self._beeps.get(name, 1))
            self.stream.flush()
            return
        try:
            subprocess.Popen([*self.player, str(self._files[name])], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        except OSError as exc:
            log.warning("%s: %s; terminal bell from now on", self.player[0], exc)
            self.player = None

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def arrow_direction(name: str) -> str | None:
    """Where a class's cue arrow points: ``left``, ``right``, ``down`` (feet), ``up``
    (tongue), or None for a class without one (its name alone is the cue)."""
    key = name.lower()
    for word, direction in (("left", "left"), ("right", "right"), ("feet", "down"),
                            ("foot", "down"), ("tongue", "up")):
        if word in key:
            return direction
    return None


def _arrow(name: str) -> list[str]:
    direction = arrow_direction(name)
    return _ARROWS["feet" if direction == "down" else direction] if direction else []


class TerminalCues:
    """What the user sees: fixation cross, a large banner per class cue, rest, messages."""

    def __init__(self, stream: TextIO | None = None, width: int = 40):
        self.stream = stream or sys.stdout
        self.width = width

    def _box(self, lines: list[str]) -> None:
        w = self.width
        out = ["", "#" * w] + [f"#{line.center(w - 2)}#" for line in lines] + ["#" * w, ""]
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()

    def fixation(self, trial: int, n_trials: int) -> None:
        self._box(["", "+", "", f"trial {trial}/{n_trials}: look at the cross"])

    def cue(self, name: str) -> None:
        big = " ".join(name.upper().replace("_", " "))
        self._box(["", *_arrow(name), "", big, "", "imagine it until REST"])

    def rest(self) -> None:
        self._box(["REST  -  relax"])

    def message(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
