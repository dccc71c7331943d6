"""Issue 11, bundle part: authenticity (Ed25519 signatures), symlinks, npz memory bombs, and
verified bytes being the loaded bytes. Each test failed on the code before the fix."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import rehash_bundle

from edge.bundle import MANIFEST, MANIFEST_HASH, open_bundle, sha256_bytes
from edge.decoders import load_decoder
from edge.errors import BundleError

SIGNATURE = "manifest.json.sig"


def generate_keypair(path):
    from edge.signing import generate_keypair

    return generate_keypair(path)


def sign_bundle(path, key):
    from export.bundle_writer import sign_bundle

    return sign_bundle(path, key)


@pytest.fixture
def bundle(s007_fast_bundle, tmp_path):
    path, _, _ = s007_fast_bundle
    dst = tmp_path / "copy.mibundle"
    shutil.copytree(path, dst)
    return dst


@pytest.fixture
def keys(tmp_path):
    """(private key path, public key path) of a fresh Ed25519 pair."""
    return generate_keypair(tmp_path / "keys" / "release.key")


def _window(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((64, 320)) * 10.0


_rehash = rehash_bundle


def _check(path, *extra, env=None):
    return subprocess.run([sys.executable, "-m", "edge.cli", "check", str(path), *extra],
                          capture_output=True, text=True, env=env)


# --- 1. signatures -----------------------------------------------------------------------------

def test_keygen_writes_a_private_key_only_the_owner_reads_and_refuses_to_overwrite(tmp_path):
    from export.cli import main

    priv = tmp_path / "k" / "release.key"
    assert main(["keygen", str(priv)]) == 0
    pub = tmp_path / "k" / "release.pub"
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in priv.read_bytes() and b"PUBLIC KEY" in pub.read_bytes()
    before = priv.read_bytes(), pub.read_bytes()
    assert main(["keygen", str(priv)]) != 0
    assert (priv.read_bytes(), pub.read_bytes()) == before


def test_signed_bundle_verifies_with_its_key(bundle, keys):
    priv, pub = keys
    sign_bundle(bundle, priv)
    assert (bundle / SIGNATURE).is_file()
    b = open_bundle(bundle, trusted_key=pub)
    assert b.signed_by  # the key id
    r = _check(bundle, "--trusted-key", str(pub))
    assert r.returncode == 0, r.stderr
    assert "signature" in r.stdout and "ok" in r.stdout
    r = _check(bundle, env={**os.environ, "MI_EDGE_TRUSTED_KEY": str(pub)})
    assert r.returncode == 0, r.stderr


def _swap_classes(path):
    _rehash(path, lambda m: m.update(classes=m["classes"][::-1]))


def _negate_weights(path):
    f = path / "fgsft.npz"
    arrays = dict(np.load(f))
    arrays["coefs"] = -arrays["coefs"]
    np.savez(f, **arrays)
    _rehash(path)


def _modify_model(path):
    f = path / "model.onnx"
    data = bytearray(f.read_bytes())
    data[10] ^= 0xFF
    f.write_bytes(bytes(data))
    _rehash(path)


@pytest.mark.parametrize("tamper", [_swap_classes, _negate_weights, _modify_model])
def test_tampering_with_recomputed_hashes_is_refused_by_a_trusted_key(bundle, keys, tamper):
    from export.bundle_writer import BundleWriter

    priv, pub = keys
    b = open_bundle(bundle)
    w = BundleWriter(bundle, b.classes, b.channels, b.sfreq)
    w.add_member("model.onnx", bytes(range(256)) * 8)  # stands for an ONNX model member
    w.close(sign_key=priv)
    open_bundle(bundle, trusted_key=pub)
    tamper(bundle)
    open_bundle(bundle)  # the plain hashes agree: without a trusted key it loads, as before
    with pytest.raises(BundleError, match="signature"):
        open_bundle(bundle, trusted_key=pub)
    r = _check(bundle, "--trusted-key", str(pub))
    assert r.returncode == 3 and "signature" in r.stderr
    r = _check(bundle, env={**os.environ, "MI_EDGE_TRUSTED_KEY": str(pub)})
    assert r.returncode == 3 and "signature" in r.stderr


def test_unsigned_bundle_is_refused_when_a_key_is_trusted(bundle, keys):
    _, pub = keys
    with pytest.raises(BundleError, match="not signed"):
        open_bundle(bundle, trusted_key=pub)
    r = _check(bundle, "--trusted-key", str(pub))
    assert r.returncode == 3 and "not signed" in r.stderr


def test_bundle_signed_by_another_key_is_refused(bundle, keys, tmp_path):
    priv, _ = keys
    _, other_pub = generate_keypair(tmp_path / "other.key")
    sign_bundle(bundle, priv)
    with pytest.raises(BundleError, match="signature"):
        open_bundle(bundle, trusted_key=other_pub)


def test_signature_file_of_another_manifest_is_refused(bundle, keys, s007_fast_bundle):
    """A valid signature moved from another bundle (or an older export) does not verify."""
    priv, pub = keys
    other = bundle.parent / "other.mibundle"
    shutil.copytree(bundle, other)
    _rehash(other, lambda m: m.update(created_utc="1999-01-01T00:00:00+00:00"))
    sign_bundle(other, priv)
    shutil.copy(other / SIGNATURE, bundle / SIGNATURE)
    with pytest.raises(BundleError, match="signature"):
        open_bundle(bundle, trusted_key=pub)


def test_signed_but_unverified_bundle_loads_with_a_warning(bundle, keys, caplog, monkeypatch):
    monkeypatch.delenv("MI_EDGE_TRUSTED_KEY", raising=False)
    sign_bundle(bundle, keys[0])
    with caplog.at_level("WARNING", logger="edge.bundle"):
        open_bundle(bundle)
    assert "not verified" in caplog.text


def test_unreadable_trusted_key_is_a_bundle_error(bundle, tmp_path):
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    with pytest.raises(BundleError, match="trusted key"):
        open_bundle(bundle, trusted_key=bad)
    with pytest.raises(BundleError, match="trusted key"):
        open_bundle(bundle, trusted_key=tmp_path / "missing.pub")


def test_export_signs_with_sign_key(s007_fast_bundle, keys, tmp_path):
    from export.train_fgsft import write_fgsft

    _, clf, ep = s007_fast_bundle
    priv, pub = keys
    path = write_fgsft(tmp_path / "signed.mibundle", "fgsft", clf, ep, sign_key=priv)
    open_bundle(path, trusted_key=pub)
    # extending a signed bundle without a key leaves it unsigned (no stale signature)
    write_fgsft(path, "fgsft2", clf, ep)
    assert not (path / SIGNATURE).exists()
    with pytest.raises(BundleError, match="not signed"):
        open_bundle(path, trusted_key=pub)


def test_cli_sign_key_options_and_sign_command(bundle, keys, tmp_path):
    from export.cli import build_parser, main

    priv, pub = keys
    for argv in (["fgsft", "x.npz", "-o", "b", "--sign-key", str(priv)],
                 ["stffda", "x.npz", "-o", "b", "--sign-key", str(priv)]):
        assert build_parser().parse_args(argv).sign_key is not None
    with pytest.raises(SystemExit):  # a bad key is refused before any training starts
        build_parser().parse_args(["fgsft", "x.npz", "-o", "b", "--sign-key", str(pub)])
    assert main(["sign", str(bundle), "--sign-key", str(priv)]) == 0
    open_bundle(bundle, trusted_key=pub)


# --- 2. symlinks -------------------------------------------------------------------------------

def test_symlinked_member_is_refused(bundle, tmp_path):
    outside = tmp_path / "outside.npz"
    shutil.move(bundle / "fgsft.npz", outside)
    (bundle / "fgsft.npz").symlink_to(outside)
    with pytest.raises(BundleError, match="fgsft.npz.*symlink"):
        open_bundle(bundle)
    assert _check(bundle).returncode == 3


def test_symlinked_manifest_is_refused(bundle, tmp_path):
    for name in (MANIFEST, MANIFEST_HASH):
        outside = tmp_path / name
        shutil.move(bundle / name, outside)
        (bundle / name).symlink_to(outside)
        with pytest.raises(BundleError, match="symlink"):
            open_bundle(bundle)
        (bundle / name).unlink()
        shutil.move(outside, bundle / name)


def test_symlinked_directory_inside_the_bundle_is_refused(bundle, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(bundle / "fgsft.npz", outside / "fgsft.npz")
    (bundle / "sub").symlink_to(outside)

    def edit(m):
        m["members"]["sub/fgsft.npz"] = m["members"].pop("fgsft.npz")
        m["decoders"]["fgsft"].update(members=["sub/fgsft.npz"], arrays="sub/fgsft.npz")

    manifest = json.loads((bundle / MANIFEST).read_text())
    edit(manifest)
    raw = json.dumps(manifest).encode()
    (bundle / MANIFEST).write_bytes(raw)
    (bundle / MANIFEST_HASH).write_text(sha256_bytes(raw) + "  manifest.json\n")
    with pytest.raises(BundleError, match="symlink"):
        open_bundle(bundle)


def test_bundle_directory_reached_through_a_symlink_is_allowed(bundle, tmp_path):
    """Deployments switch versions with a `current -> v3.mibundle` link: that is allowed."""
    link = tmp_path / "current.mibundle"
    link.symlink_to(bundle)
    assert open_bundle(link).decoder_names == ["fgsft"]


# --- 3. npz memory bombs -----------------------------------------------------------------------

def _add_zero_entry(npz_path, key: str, nbytes: int, shape=None):
    """Append a compressed constant float64 entry of ``nbytes`` to an npz, streamed (the test
    never holds it in memory)."""
    n = nbytes // 8
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": shape or (n,)})
    with zipfile.ZipFile(npz_path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
            fh.write(header.getvalue())
            chunk = b"\x01" * (1 << 20)  # not zeros: untouched zero pages cost no RSS
            left = n * 8
            while left > 0:
                fh.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)


_PEAK = """
import resource, sys
from edge.cli import main
rc = main(["check", sys.argv[1]])
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(rc)
"""


def _check_peak_mb(path):
    r = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True)
    peak = [int(line.split()[1]) for line in r.stderr.splitlines() if line.startswith("PEAK_KB")]
    return r, peak[0] / 1024


def test_npz_bomb_is_refused_before_decompressing(bundle):
    _, clean_mb = _check_peak_mb(bundle)
    _add_zero_entry(bundle / "fgsft.npz", "unused", 300 * 2**20)
    assert (bundle / "fgsft.npz").stat().st_size < 5 * 2**20
    _rehash(bundle)
    r, bomb_mb = _check_peak_mb(bundle)
    print(f"check peak RSS: clean bundle {clean_mb:.0f} MB, with a 300 MB npz bomb "
          f"{bomb_mb:.0f} MB (rc {r.returncode})")
    assert r.returncode == 3 and "unused" in r.stderr
    assert bomb_mb < clean_mb + 30


def test_unused_npz_entry_is_never_decompressed(bundle):
    _, clean_mb = _check_peak_mb(bundle)
    _add_zero_entry(bundle / "fgsft.npz", "unused", 200 * 2**20)
    _rehash(bundle)
    r, mb = _check_peak_mb(bundle)
    print(f"check peak RSS: clean {clean_mb:.0f} MB, with an unused 200 MB entry {mb:.0f} MB")
    assert r.returncode == 0, r.stderr
    assert mb < clean_mb + 30


def test_npy_header_declaring_a_huge_array_is_refused(bundle):
    """The npy header claims 8 GB in a tiny entry: refused from the header alone."""
    f = bundle / "fgsft.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (2**30,)})
    with zipfile.ZipFile(f, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar.npy", header.getvalue() + bytes(64))
    _rehash(bundle)
    with pytest.raises(BundleError, match="liar"):
        open_bundle(bundle).load_arrays("fgsft.npz")


def test_npz_entry_size_disagreeing_with_its_header_is_refused(bundle):
    f = bundle / "fgsft.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (4,)})
    with zipfile.ZipFile(f, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("short.npy", header.getvalue() + bytes(16))
    _rehash(bundle)
    with pytest.raises(BundleError, match="short"):
        open_bundle(bundle).load_arrays("fgsft.npz")


def test_load_arrays_with_keys_and_lazily(bundle):
    b = open_bundle(bundle)
    arrays = b.load_arrays("fgsft.npz")
    assert "coefs" in arrays and isinstance(arrays["coefs"], np.ndarray)
    some = b.load_arrays("fgsft.npz", keys=["coefs", "platt"])
    assert set(some) == {"coefs", "platt"}
    np.testing.assert_array_equal(some["coefs"], arrays["coefs"])
    with pytest.raises(BundleError, match="nope"):
        b.load_arrays("fgsft.npz", keys=["nope"])


# --- 4. the verified bytes are the loaded bytes ------------------------------------------------

def test_member_replaced_after_verification_is_not_loaded(bundle):
    b = open_bundle(bundle)
    x = _window()
    expected = load_decoder(open_bundle(bundle), "fgsft").predict_proba(x[None])
    f = bundle / "fgsft.npz"
    arrays = dict(np.load(f))
    arrays["coefs"] = -arrays["coefs"]
    np.savez(f, **arrays)  # swapped between verification and loading
    got = load_decoder(b, "fgsft").predict_proba(x[None])
    np.testing.assert_allclose(got, expected)
    assert sha256_bytes(b.member_bytes("fgsft.npz")) == b.manifest["members"]["fgsft.npz"]["sha256"]


def test_member_bytes_only_for_listed_members(bundle):
    b = open_bundle(bundle)
    with pytest.raises(BundleError, match="not listed"):
        b.member_bytes("other.bin")
