"""Issue 11, defect 6: an interrupted (re-)export never destroys the bundle that is deployed.

The exporter builds the new bundle in a temporary directory beside the target and swaps it in
with one rename; these tests crash it at every file-system step (an exception, and SIGKILL in a
subprocess) and check that the old bundle still verifies and decodes exactly as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge.bundle import open_bundle
from edge.decoders import load_decoder


@pytest.fixture
def bundle(s007_fast_bundle, tmp_path):
    path, _, _ = s007_fast_bundle
    dst = tmp_path / "deployed.mibundle"
    shutil.copytree(path, dst)
    return dst


X = np.random.default_rng(1).standard_normal((1, 64, 320)) * 10.0  # a batch of one window


def _proba(path, name="fgsft"):
    return load_decoder(open_bundle(path), name).predict_proba(X)


# Re-export: the fgsft decoder's arrays replaced (sign of the weights flipped), and a second
# decoder added, as `mi-export stffda` adds decoders to an fgsft bundle.
REEXPORT = """
import sys
import numpy as np
from edge.bundle import open_bundle
from export.bundle_writer import BundleWriter

def reexport(path):
    old = open_bundle(path)
    arrays = dict(old.load_arrays("fgsft.npz"))
    arrays["coefs"] = -arrays["coefs"]
    arrays["intercepts"] = -arrays["intercepts"]
    spec = old.decoder_spec("fgsft")
    w = BundleWriter(path, old.classes, old.channels, old.sfreq)
    w.add_arrays("fgsft.npz", arrays)
    w.add_decoder("fgsft", spec, {"note": "re-export"})
    w.add_arrays("second.npz", arrays)
    w.add_decoder("second", {**spec, "members": ["second.npz"], "arrays": "second.npz"}, {})
    return w.close()
"""

KILLER = REEXPORT + """
import os, signal
calls = 0
real_fsync = os.fsync
def fsync(fd):
    global calls
    calls += 1
    if calls == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_fsync(fd)
os.fsync = fsync
reexport(sys.argv[1])
print("FINISHED", calls)
"""


def _reexport(path):
    ns: dict = {}
    exec(REEXPORT, ns)  # noqa: S102 - the same code the SIGKILL test runs in a subprocess
    return ns["reexport"](path)


def _state(path, old_proba) -> str:
    """'old' or 'new' if the bundle at ``path`` is exactly one of them (fails otherwise)."""
    b = open_bundle(path)
    if b.decoder_names == ["fgsft"]:
        np.testing.assert_array_equal(_proba(path), old_proba)
        return "old"
    assert b.decoder_names == ["fgsft", "second"]
    new = _proba(path)
    assert not np.allclose(new, old_proba)
    np.testing.assert_array_equal(new, _proba(path, "second"))
    return "new"


def _fsync_count(bundle, tmp_path, monkeypatch) -> int:
    """How many fsyncs a complete re-export makes (the last one follows the swap)."""
    scratch = tmp_path / "scratch.mibundle"
    shutil.copytree(bundle, scratch)
    calls = {"n": 0}
    real = os.fsync

    def counting(fd):
        calls["n"] += 1
        return real(fd)

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", counting)
        _reexport(scratch)
    shutil.rmtree(scratch)
    return calls["n"]


@pytest.mark.parametrize("step", range(1, 9))
def test_exception_at_any_fsync_leaves_a_whole_bundle(bundle, tmp_path, monkeypatch, step):
    """Failing before the swap leaves the old bundle; failing at the parent directory's fsync
    after it leaves the new one, complete. Either way nothing is left beside it."""
    n_fsync = _fsync_count(bundle, tmp_path, monkeypatch)
    old = _proba(bundle)
    calls = {"n": 0}
    real = os.fsync

    def failing_fsync(fd):
        calls["n"] += 1
        if calls["n"] == step:
            raise OSError(28, "No space left on device (simulated)")
        return real(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    try:
        _reexport(bundle)
        raised = False
    except OSError:
        raised = True
    monkeypatch.undo()
    expected = "new" if step >= n_fsync else "old"
    assert raised == (step <= n_fsync)
    assert _state(bundle, old) == expected
    leftovers = [p.name for p in bundle.parent.iterdir() if p.name != bundle.name]
    assert leftovers == [], leftovers  # the temporary directory was removed


def test_exception_while_writing_the_manifest_leaves_the_old_bundle(bundle, monkeypatch):
    import export.bundle_writer as bw

    old = _proba(bundle)

    def boom(*a, **k):
        raise RuntimeError("killed while serialising the manifest")

    monkeypatch.setattr(bw.json, "dumps", boom)
    with pytest.raises(RuntimeError):
        _reexport(bundle)
    monkeypatch.undo()
    assert _state(bundle, old) == "old"


def test_sigkill_at_any_step_leaves_a_valid_bundle(bundle, tmp_path):
    pristine = tmp_path / "pristine"
    shutil.copytree(bundle, pristine)
    old = _proba(bundle)
    states = []
    for step in range(1, 30):
        shutil.rmtree(bundle)
        shutil.copytree(pristine, bundle)
        r = subprocess.run([sys.executable, "-c", KILLER, str(bundle), str(step)],
                           capture_output=True, text=True)
        if r.returncode == -9:
            states.append(_state(bundle, old))  # the old bundle, or the new one once swapped
            continue
        assert r.returncode == 0 and "FINISHED" in r.stdout, r.stderr
        assert _state(bundle, old) == "new"
        break
    else:
        pytest.fail("the export never finished")
    # killed while writing members, manifest, hash, directory: the old bundle each time;
    # killed after the swap (fsync of the parent): the new one
    assert states.count("old") >= 4 and states == sorted(states, reverse=True), states
    r = subprocess.run([sys.executable, "-m", "edge.cli", "check", str(bundle)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_export_into_a_symlinked_bundle_keeps_the_link(bundle, tmp_path):
    link = tmp_path / "current.mibundle"
    link.symlink_to(bundle)
    old = _proba(bundle)
    _reexport(link)
    assert link.is_symlink() and link.resolve() == bundle.resolve()
    assert _state(bundle, old) == "new"


def test_new_bundle_is_written_whole(s007_fast_bundle, tmp_path):
    from export.train_fgsft import write_fgsft

    _, clf, ep = s007_fast_bundle
    path = write_fgsft(tmp_path / "new" / "b.mibundle", "fgsft", clf, ep)
    assert sorted(p.name for p in path.iterdir()) == [
        "fgsft.npz", "manifest.json", "manifest.json.sha256"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.mibundle"]
