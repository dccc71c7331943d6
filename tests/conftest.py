"""Shared fixtures: real EEG bundled in the repository (data/, see data/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "eegmmidb"
S007 = DATA / "S007_imagery_left_right.npz"
S002 = DATA / "S002_imagery_left_right.npz"
S007_R12 = DATA / "S007_R12_continuous.npz"
WINDOW = (0.5, 2.5)


@pytest.fixture(scope="session")
def s007_fast_bundle(tmp_path_factory):
    """FGSFT (fast grid) trained on S007 runs 4 and 8; run 12 stays held out.

    Returns (bundle path, in-memory classifier, training EpochSet).
    """
    from export.data import load_epochs
    from export.fgsft import FGSFTConfig
    from export.train_fgsft import train_fgsft, write_fgsft

    ep = load_epochs([S007], window=WINDOW, runs=[4, 8])
    clf = train_fgsft(ep, FGSFTConfig(grid="fast", jobs=1))
    path = write_fgsft(tmp_path_factory.mktemp("bundle") / "S007.mibundle", "fgsft", clf, ep)
    return path, clf, ep

#: the 8 electrodes the Cyton demo montage puts on its inputs (sensorimotor strip)
CYTON_CHANNELS = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]


@pytest.fixture(scope="session")
def s007_cyton_bundle(tmp_path_factory):
    """FGSFT (fast grid) on 8 sensorimotor channels of S007 runs 4 and 8, resampled to the
    Cyton's 250 Hz: a bundle a Cyton (or its BrainFlow playback) can run."""
    from export.data import load_epochs
    from export.fgsft import FGSFTConfig
    from export.train_fgsft import train_fgsft, write_fgsft

    ep = load_epochs([S007], window=WINDOW, runs=[4, 8], channels=CYTON_CHANNELS, sfreq=250.0)
    clf = train_fgsft(ep, FGSFTConfig(grid="fast", jobs=1))
    return write_fgsft(tmp_path_factory.mktemp("cyton") / "S007c.mibundle", "fgsft", clf, ep)


def rehash_bundle(path, edit_manifest=lambda m: None) -> None:
    """What anyone who can write a bundle can do: edit it, then recompute every member's hash
    and the manifest hash (only a signature tells this apart from the exporter's work)."""
    import json

    from edge.bundle import MANIFEST, MANIFEST_HASH, sha256_bytes

    manifest = json.loads((path / MANIFEST).read_text())
    edit_manifest(manifest)
    for member in manifest["members"]:
        data = (path / member).read_bytes()
        manifest["members"][member] = {"bytes": len(data), "sha256": sha256_bytes(data)}
    raw = json.dumps(manifest).encode()
    (path / MANIFEST).write_bytes(raw)
    (path / MANIFEST_HASH).write_text(sha256_bytes(raw) + "  manifest.json\n")


def drain_pty(fd: int, idle_s: float = 0.3) -> bytes:
    """Everything the other side wrote: the kernel moves pty data through flip buffers in a
    worker, so on a busy machine the last bytes may arrive a little after the write returned."""
    import select

    chunks = []
    while select.select([fd], [], [], idle_s)[0]:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)

