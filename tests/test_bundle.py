"""Bundle integrity: corrupt, truncated, tampered, newer-schema bundles are refused by name."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge.bundle import MANIFEST, MANIFEST_HASH, open_bundle, sha256_bytes
from edge.decoders import load_decoder
from edge.errors import BundleError


@pytest.fixture
def bundle(s007_fast_bundle, tmp_path):
    path, _, _ = s007_fast_bundle
    dst = tmp_path / "copy.mibundle"
    shutil.copytree(path, dst)
    return dst


def _rewrite_manifest(path, edit):
    manifest = json.loads((path / MANIFEST).read_text())
    edit(manifest)
    raw = json.dumps(manifest).encode()
    (path / MANIFEST).write_bytes(raw)
    (path / MANIFEST_HASH).write_text(sha256_bytes(raw) + "  manifest.json\n")


def _check(path):
    return subprocess.run([sys.executable, "-m", "edge.cli", "check", str(path)],
                          capture_output=True, text=True)


def test_good_bundle_verifies(bundle):
    b = open_bundle(bundle)
    assert b.classes == ["left_hand", "right_hand"] and len(b.channels) == 64
    assert b.manifest["members"]["fgsft.npz"]["sha256"]
    assert b.manifest["provenance"]["fgsft"]["inputs"][0]["sha256"]
    r = _check(bundle)
    assert r.returncode == 0 and "OK" in r.stdout


def test_flipped_byte_in_a_member(bundle):
    f = bundle / "fgsft.npz"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"member fgsft.npz: SHA-256 mismatch"):
        open_bundle(bundle)
    r = _check(bundle)
    assert r.returncode == 3 and "fgsft.npz" in r.stderr and "SHA-256" in r.stderr


def test_truncated_member(bundle):
    f = bundle / "fgsft.npz"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(BundleError, match=r"fgsft.npz: \d+ bytes, manifest says \d+ .truncated"):
        open_bundle(bundle)


def test_missing_member(bundle):
    (bundle / "fgsft.npz").unlink()
    with pytest.raises(BundleError, match="member fgsft.npz is missing"):
        open_bundle(bundle)


def test_edited_manifest_without_rehash(bundle):
    text = (bundle / MANIFEST).read_text().replace('"left_hand"', '"right_hand"', 1)
    (bundle / MANIFEST).write_text(text)
    with pytest.raises(BundleError, match="manifest.json: SHA-256 mismatch"):
        open_bundle(bundle)


def test_truncated_manifest(bundle):
    raw = (bundle / MANIFEST).read_bytes()[:200]
    (bundle / MANIFEST).write_bytes(raw)
    (bundle / MANIFEST_HASH).write_text(sha256_bytes(raw))
    with pytest.raises(BundleError, match="not valid JSON"):
        open_bundle(bundle)


def test_newer_schema_is_refused(bundle):
    _rewrite_manifest(bundle, lambda m: m.update(schema_version=99))
    with pytest.raises(BundleError, match="schema 99 is newer than this runtime supports"):
        open_bundle(bundle)
    r = _check(bundle)
    assert r.returncode == 3 and "upgrade mi-edge" in r.stderr


def test_unknown_decoder_kind(bundle):
    _rewrite_manifest(bundle, lambda m: m["decoders"]["fgsft"].update(kind="quantum"))
    with pytest.raises(BundleError, match="unknown kind 'quantum'"):
        load_decoder(open_bundle(bundle), "fgsft")


def test_pickled_arrays_are_refused(bundle):
    """A member replaced by an object (pickle) array, hashes updated: loading must refuse it."""
    f = bundle / "fgsft.npz"
    arrays = dict(np.load(f))
    arrays["platt"] = np.array([{"evil": 1}], dtype=object)
    np.savez(f, **arrays)
    data = f.read_bytes()
    _rewrite_manifest(bundle, lambda m: m["members"]["fgsft.npz"].update(
        bytes=len(data), sha256=sha256_bytes(data)))
    with pytest.raises(BundleError, match="fgsft.npz"):
        load_decoder(open_bundle(bundle), "fgsft")


def test_inconsistent_arrays(bundle):
    f = bundle / "fgsft.npz"
    arrays = dict(np.load(f))
    arrays["coefs"] = arrays["coefs"][:-1]
    arrays["coef_offsets"][-1] -= 1
    np.savez(f, **arrays)
    data = f.read_bytes()
    _rewrite_manifest(bundle, lambda m: m["members"]["fgsft.npz"].update(
        bytes=len(data), sha256=sha256_bytes(data)))
    with pytest.raises(BundleError, match="inconsistent FGSFT arrays"):
        load_decoder(open_bundle(bundle), "fgsft")


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="no such bundle"):
        open_bundle(tmp_path / "nothing")
    with pytest.raises(BundleError, match="manifest.json is missing"):
        open_bundle(tmp_path)


def test_bad_window_gets_a_clear_error(bundle):
    from edge.errors import InputError

    dec = load_decoder(open_bundle(bundle), "fgsft")
    with pytest.raises(InputError, match="expected .* 64 channels, 320 samples"):
        dec.predict_proba(np.zeros((1, 8, 320)))
    window = np.zeros((64, 320))
    with pytest.raises(InputError, match=r"expected a batch .*window\[None\]"):
        dec.predict_proba(window)
    window[3, 10] = np.nan
    with pytest.raises(InputError, match="NaN"):
        dec.predict_proba(window[None])
