"""Bundles already deployed keep their decisions: the demo bundle written by the code before the
restructure (tests/fixtures/README.md) decodes the same held-out windows to the probabilities
that code gave, through today's runtime and its one decoder contract."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO

from edge.bundle import open_bundle
from edge.decoders import load_decoder

FIXTURES = REPO / "tests" / "fixtures"
BUNDLE = FIXTURES / "demo_v0_S007_cyton.mibundle"
WINDOWS = FIXTURES / "demo_v0_S007_cyton_r12.npz"

# FGSFT is numpy/scipy arithmetic on the same arrays: identical to rounding. The nets run in the
# same ONNX Runtime / LiteRT build, so identical too; 1e-6 leaves room for a newer runtime build.
TOLERANCE = {"fgsft": 1e-12, "onnx": 1e-6, "tflite": 1e-6}


@pytest.mark.parametrize("name", ["fgsft", "stffda_fp32", "stffda_int8", "stffda_tflite_int8"])
def test_pre_restructure_demo_bundle_decodes_identically(name):
    bundle = open_bundle(BUNDLE)
    try:
        dec = load_decoder(bundle, name)
    except Exception as exc:  # noqa: BLE001 - no TFLite interpreter on this machine
        if name.endswith("tflite_int8"):
            pytest.skip(f"no TFLite interpreter: {exc}")
        raise
    ref = np.load(WINDOWS)
    X = ref["X"].astype(np.float64)
    proba = dec.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba, ref[f"proba_{name}"], rtol=0, atol=TOLERANCE[dec.kind])
    # and the decisions the device would act on are the same
    assert np.array_equal(proba.argmax(1), ref[f"proba_{name}"].argmax(1))
