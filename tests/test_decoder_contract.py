"""The decoder contract and old bundles: predict_proba((n, C, T)) -> (n, n_classes), classes_,
2-D input refused; a bundle written before the restructure decodes exactly as it did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.bundle import open_bundle
from edge.decoders import DecoderSpec, load_decoder
from edge.errors import BundleError, InputError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V0 = FIXTURES / "fgsft_v0_S007.mibundle"
V0_WINDOWS = FIXTURES / "fgsft_v0_S007_r12.npz"


def test_pre_restructure_bundle_decodes_identically():
    ref = np.load(V0_WINDOWS)
    dec = load_decoder(open_bundle(V0), "fgsft")
    assert dec.model.n_classes == 2  # its arrays predate n_classes
    p = dec.predict_proba(ref["X"].astype(np.float64))
    assert p.shape == ref["proba"].shape
    assert np.max(np.abs(p - ref["proba"])) <= 1e-12


def test_retraining_two_classes_reproduces_the_old_model(s007_fast_bundle):
    """Same data and settings as the fixture (S007 runs 4 + 8, fast grid): the new code writes
    the same arrays and the same spec; since issue 15 also the filter designs (``sos``, so the
    runtime needs no ``scipy.signal``) and the filtering mode (``causal`` 0)."""
    path, _, _ = s007_fast_bundle
    old, new = np.load(V0 / "fgsft.npz"), np.load(Path(path) / "fgsft.npz")
    assert set(new.files) - set(old.files) == {"n_classes", "causal", "sos"}
    assert int(new["causal"]) == 0 and new["sos"].shape[1:] == (5, 6)
    for key in old.files:
        assert np.array_equal(old[key], new[key]), key
    assert open_bundle(path).decoder_spec("fgsft") == open_bundle(V0).decoder_spec("fgsft")


def test_fgsft_decoder_keeps_the_contract():
    ref = np.load(V0_WINDOWS)
    dec = load_decoder(open_bundle(V0), "fgsft")
    X = ref["X"].astype(np.float64)
    assert list(dec.classes_) == ["left_hand", "right_hand"]
    assert dec.predict_proba(X[:3]).shape == (3, 2)
    assert dec.predict_proba(X[:0]).shape == (0, 2)
    with pytest.raises(InputError, match=r"expected a batch"):
        dec.predict_proba(X[0])
    assert np.allclose(dec.predict_proba(X[:1])[0], dec.predict_proba(X)[0], rtol=0, atol=1e-12)


def test_decoder_spec_reads_and_writes_the_old_manifest():
    raw = json.loads((V0 / "manifest.json").read_text())["decoders"]["fgsft"]
    spec = DecoderSpec.from_dict(raw)
    assert spec.kind == "fgsft" and spec.arrays == "fgsft.npz"
    assert spec.window.n_samples == 320 and spec.window.tmin == 0.5
    assert spec.to_dict() == raw
    assert list(spec.to_dict()) == list(raw)  # same key order as the old writer


@pytest.mark.parametrize("drop, name", [("kind", "'kind'"), ("members", "'members'"),
                                        ("window", "'window'"), ("tmin", "'window.tmin'")])
def test_decoder_spec_names_the_missing_key(drop, name):
    raw = json.loads((V0 / "manifest.json").read_text())["decoders"]["fgsft"]
    if drop == "tmin":
        raw["window"] = {k: v for k, v in raw["window"].items() if k != "tmin"}
    else:
        raw.pop(drop)
    with pytest.raises(BundleError, match=name):
        DecoderSpec.from_dict(raw, "b: decoder fgsft")
