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


def run_blocked(body: str, blocked=FORBIDDEN, timeout: float | None = None) -> str:
    """Run ``body`` in a fresh interpreter where importing any of ``blocked`` fails (as on a
    device without them), then check none of them was loaded; returns its stdout."""
    code = BLOCKER.format(forbidden=set(blocked)) + textwrap.dedent(body) + textwrap.dedent(
        f"""
        for mod in {tuple(blocked)!r}:
            assert mod not in sys.modules, mod
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


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


def test_the_runtime_does_not_import_scipy_signal():
    """``scipy.signal`` costs ~68 MiB of RSS on import; the runtime filters with
    :mod:`edge.filterbank` instead. Every decoder kind is registered on import of
    ``edge.decoders`` (the rest-aware tangent gate imported ``sosfiltfilt`` and cost every
    runtime 50 -> 118 MiB)."""
    run_blocked("""
        import edge.loop, edge.decoders, edge.cli, edge.cli_main, edge.replay
        assert "scipy.signal" not in sys.modules
        """)


def test_edge_decodes_every_decoder_without_torch_or_sklearn(s007_fast_bundle):
    path, clf, _ = s007_fast_bundle
    run_blocked(f"""
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
        """)
    import numpy as np

    from export.data import load_epochs

    test = load_epochs([S007], window=(0.5, 2.5), runs=[12])
    p = np.load(Path(path).parent / "edge_proba.npy")
    assert np.max(np.abs(p - clf.predict_proba(test.X))) <= 1e-9


def test_check_works_before_brainflow_is_built():
    """On a Pi, BrainFlow is built from source after mi-edge is installed (deploy step 3):
    `mi-edge check` must not need it (it died with a traceback importing the board code)."""
    bundle = REPO / "tests" / "fixtures" / "demo_v0_S007_cyton.mibundle"
    out = run_blocked(f"""
        from edge.cli import main
        rc = main(["check", {str(bundle)!r}])
        print("check rc", rc)
        """, blocked=("brainflow", *FORBIDDEN))
    assert "check rc 0" in out


def _net_bundle(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """Every registered net (EEGNet, STFF-DA, STAFNet when registered), briefly trained on S007
    runs 4 and 8 (EEGNet with Euclidean alignment), exported into one bundle; torch's
    probabilities on run 12 by net name."""
    import importlib.util

    from export.data import load_epochs
    from export.nets.align import align_windows
    from export.nets.bundle import write_net
    from export.nets.registry import get, names
    from export.nets.train import TrainConfig, predict_proba, train

    has_litert = all(importlib.util.find_spec(m) is not None
                     for m in ("ai_edge_litert", "litert_torch", "ai_edge_quantizer"))
    ep = load_epochs([S007], window=(0.25, 2.75), runs=[4, 8])
    test = load_epochs([S007], window=(0.5, 2.5), runs=[12])
    tc = TrainConfig(max_epochs=3, min_epochs=1, patience=2, refit=False, seed=0)
    path, torch_p = tmp_path / "nets.mibundle", {}
    for name in names():
        cfg = _small_config(name, get(name).config, ep)
        trained = train(ep, cfg, tc, band=(4.0, 40.0), align=name == "eegnet")
        write_net(path, name, trained, ep, (0.5, 2.5), tc, tflite="on" if has_litert else "off",
                  adapt_horizon_s=10.0 if name == "eegnet" else 0.0)
        Z = trained.prep(test.X)
        torch_p[name] = predict_proba(trained.net, Z if trained.whitener is None else
                                      align_windows(Z, trained.whitener))
    return path, torch_p


def _small_config(name: str, config: type, ep) -> object:
    """A fast configuration of each net at 64 channels x 320 samples, 160 Hz."""
    if name == "stffda":
        return config(64, 320, n_filters=4, hidden=8)
    if name == "stafnet":
        return config(64, 320, sfreq=ep.sfreq, ch_names=tuple(ep.ch_names))
    return config(64, 320, kernel_size=80)


def test_edge_decodes_every_net_without_torch(tmp_path):
    """EEGNet (aligned, with online adaptation), STFF-DA and STAFNet bundles: ONNX fp32, ONNX
    int8 and TFLite int8 decoders run with torch, sklearn and export blocked, and agree with
    torch (fp32 within 1e-4, int8 within 0.05)."""
    import numpy as np

    path, torch_p = _net_bundle(tmp_path)
    out = tmp_path / "edge_nets.npz"
    run_blocked(f"""
        import numpy as np
        from edge.bundle import open_bundle
        from edge.decoders import load_decoder
        b = open_bundle({str(path)!r})
        raw = np.load({str(S007)!r})
        X = raw["X"][raw["run"] == 12][:, :, 160:480].astype(float)
        res = {{}}
        for name in b.decoder_names:
            dec = load_decoder(b, name)
            res[name] = dec.predict_proba(X)
            if dec.whitener is not None:
                dec.set_adaptation(None, 0.125)
                res[name + "@adapt"] = dec.predict_proba(X)
                dec.reset_adaptation()
        np.savez({str(out)!r}, **res)
        """, timeout=300)
    got = np.load(out)
    for net, p_torch in torch_p.items():
        names = [n for n in got.files if n.split("_")[0] == net]
        assert f"{net}_fp32" in names and f"{net}_int8" in names, got.files
        for n in names:
            bound = 1e-4 if n.endswith("fp32") else 0.05
            assert np.max(np.abs(got[n] - p_torch)) <= bound, (n, np.max(np.abs(got[n] - p_torch)))
    assert "eegnet_fp32@adapt" in got.files


def test_edge_decodes_riemann_without_sklearn_or_pyriemann(tmp_path):
    """The riemann kind (and its online adaptation) runs on numpy/scipy alone, and gives the
    exporter's probabilities."""
    import numpy as np

    from export.data import load_epochs
    from export.riemann import RiemannClassifier, write_riemann

    train = load_epochs([S007], window=(0.5, 2.5), runs=[4, 8])
    clf = RiemannClassifier(train.sfreq, bands=((8.0, 14.0), (14.0, 30.0))).fit(train.X,
                                                                                   train.y)
    path = write_riemann(tmp_path / "r.mibundle", "riemann", clf, train, adapt_horizon_s=10.0)
    run_blocked(f"""
        import numpy as np
        from edge.bundle import open_bundle
        from edge.decoders import load_decoder
        from edge.cli import main
        b = open_bundle({str(path)!r})
        raw = np.load({str(S007)!r})
        X = raw["X"][raw["run"] == 12][:, :, 160:480].astype(float)
        dec = load_decoder(b, "riemann")
        np.save({str(tmp_path / "p.npy")!r}, dec.predict_proba(X))
        dec.set_adaptation(None, 0.125)  # the bundle's 10 s at 8 windows/s
        p = dec.predict_proba(np.concatenate([X] * 4))
        assert dec.adaptation[0].ready and np.all(np.isfinite(p))
        assert main(["check", {str(path)!r}]) == 0
        """)
    test = load_epochs([S007], window=(0.5, 2.5), runs=[12])
    assert np.max(np.abs(np.load(tmp_path / "p.npy") - clf.predict_proba(test.X))) <= 1e-9


@pytest.mark.parametrize("args", [
    ["--help"], ["run", "--help"], ["profile", "--help"], ["signal-check", "--help"],
    ["replay", "tests/fixtures/demo_v0_S007_cyton.mibundle",
     "data/eegmmidb/S007_R12_continuous.npz", "--json"],
])
def test_commands_without_a_board_work_without_brainflow(args):
    """Issue 18: with BrainFlow not (yet) importable, as on a Pi before deploy step 3, the help
    of every command and `mi-edge replay` (a recording, no board) still work."""
    out = run_blocked(f"""
        from edge.cli import main
        try:
            rc = main({args!r})
        except SystemExit as exc:
            rc = exc.code
        print("rc", rc)
        """, blocked=("brainflow", *FORBIDDEN))
    assert out.splitlines()[-1] == "rc 0"
    if args[0] == "replay":
        assert '"hits"' in out, out[-500:]
