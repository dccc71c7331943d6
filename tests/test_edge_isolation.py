"""The edge runtime must run on a Pi without torch or scikit-learn."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, S007

FORBIDDEN = ("torch", "sklearn", "mne", "pyriemann", "export")

BLOCKER = textwrap.dedent(
    """
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {forbidden!r}:
                raise ImportError(f"{{name}} is not available on the device")
            return None
    sys.meta_path.insert(0, Block())
    """
)


def test_no_forbidden_imports_in_edge_source():
    for py in (REPO / "edge").rglob("*.py"):
        tree = ast.parse(py.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{py}: imports {name}"


def test_edge_decodes_every_decoder_without_torch_or_sklearn(s007_fast_bundle):
    path, clf, _ = s007_fast_bundle
    code = BLOCKER.format(forbidden=set(FORBIDDEN)) + textwrap.dedent(
        f"""
        import numpy as np
        from edge.bundle import open_bundle
        from edge.decoders import load_decoder
        from edge.cli import main
        b = open_bundle({str(path)!r})
        raw = np.load({str(S007)!r})
        X = raw["X"][raw["run"] == 12][:, :, 160:480].astype(float)
        for name in b.decoder_names:
            dec = load_decoder(b, name)
            p = np.concatenate([dec.predict_proba(x[None]) for x in X])
            assert p.shape == (len(X), len(b.classes)), p.shape
            np.save({str(Path(path).parent / "edge_proba.npy")!r}, p)
        assert main(["check", {str(path)!r}]) == 0
        for mod in {FORBIDDEN!r}:
            assert mod not in sys.modules, mod
        print("edge ok")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "edge ok" in r.stdout
    import numpy as np

    from export.data import load_epochs

    test = load_epochs([S007], window=(0.5, 2.5), runs=[12])
    p = np.load(Path(path).parent / "edge_proba.npy")
    assert np.max(np.abs(p - clf.predict_proba(test.X))) <= 1e-9


def test_check_works_before_brainflow_is_built():
    """On a Pi, BrainFlow is built from source after mi-edge is installed (deploy step 3):
    `mi-edge check` must not need it (it died with a traceback importing the board code)."""
    bundle = REPO / "tests" / "fixtures" / "demo_v0_S007_cyton.mibundle"
    code = BLOCKER.format(forbidden={"brainflow", *FORBIDDEN}) + textwrap.dedent(
        f"""
        from edge.cli import main
        rc = main(["check", {str(bundle)!r}])
        assert "brainflow" not in sys.modules
        print("check rc", rc)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "check rc 0" in r.stdout


@pytest.mark.parametrize("args", [
    ["--help"], ["run", "--help"], ["profile", "--help"], ["signal-check", "--help"],
    ["replay", "tests/fixtures/demo_v0_S007_cyton.mibundle",
     "data/eegmmidb/S007_R12_continuous.npz", "--json"],
])
def test_commands_without_a_board_work_without_brainflow(args):
    """Issue 18: with BrainFlow not (yet) importable, as on a Pi before deploy step 3, the help
    of every command and `mi-edge replay` (a recording, no board) still work."""
    code = BLOCKER.format(forbidden={"brainflow", *FORBIDDEN}) + textwrap.dedent(
        f"""
        from edge.cli import main
        try:
            rc = main({args!r})
        except SystemExit as exc:
            rc = exc.code
        assert "brainflow" not in sys.modules
        print("rc", rc)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "rc 0"
    if args[0] == "replay":
        assert '"hits"' in r.stdout, r.stdout[-500:]
