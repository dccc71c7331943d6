"""Shared fixtures: real EEG bundled in the repository (data/, see data/README.md)."""

from __future__ import annotations

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
