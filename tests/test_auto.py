"""``mi-export auto``: ranking by inner cross-validation on the training runs only, the winner
first in the bundle (the runtime's default), the ranking in the manifest and the output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import S002, S007, WINDOW

CHEAP = ["riemann", "fgsft"]  # the candidates that need no pool and train in seconds


def _export(argv: list[str], capsys) -> tuple[int, str, str]:
    from export.cli import main

    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def auto_bundle(tmp_path_factory):
    """``mi-export auto`` on S007 runs 4 and 8 (run 12 held out), --json."""
    import contextlib
    import io

    from export.cli import main

    out = tmp_path_factory.mktemp("auto") / "S007.mibundle"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["auto", str(S007), "--runs", "4", "8", "--candidates", *CHEAP, "-q",
                   "--json", "-o", str(out)])
    assert rc == 0
    return out, json.loads(buf.getvalue())


def test_inner_folds_leave_one_run_out_and_blocks():
    from export.auto import N_BLOCKS, inner_folds
    from export.data import load_epochs

    ep = load_epochs([S007], window=WINDOW, runs=[4, 8])
    folds = inner_folds(ep)
    assert len(folds) == 2
    for tr, va in folds:
        assert len(np.unique(ep.groups[va])) == 1
        assert not set(ep.groups[tr]) & set(ep.groups[va])
    one = ep.subset(ep.runs == 4)
    folds = inner_folds(one)
    assert len(folds) == N_BLOCKS
    seen = np.concatenate([va for _, va in folds])
    assert sorted(seen.tolist()) == list(range(len(one.y)))  # every trial validated once
    for _, va in folds:
        assert set(one.y[va]) == {0, 1}  # both classes in every block


def test_one_class_and_no_candidates_are_refused():
    from export.auto import inner_folds, run_auto
    from export.data import load_epochs

    ep = load_epochs([S007], window=WINDOW, runs=[4, 8])
    left = ep.subset(ep.y == 0)
    with pytest.raises(ValueError, match="one class"):
        inner_folds(left)
    with pytest.raises(ValueError, match="no candidates"):
        run_auto(ep, [], "unused.mibundle")


def test_bad_candidates_give_clear_errors(tmp_path, capsys):
    rc, _, err = _export(["auto", str(S007), "--candidates", "nosuch", "-o",
                          str(tmp_path / "b.mibundle")], capsys)
    assert rc != 0 and "unknown candidate" in err and "riemann" in err
    rc, _, err = _export(["auto", str(S007), "--candidates", "stffda_pooled", "-o",
                          str(tmp_path / "b.mibundle")], capsys)
    assert rc != 0 and "--pool" in err
    rc, _, err = _export(["auto", str(S007), "--pool", str(S007), "--candidates", "fgsft",
                          "-o", str(tmp_path / "b.mibundle")], capsys)
    assert rc != 0 and "other people" in err
    assert not (tmp_path / "b.mibundle").exists()


def test_winner_first_ranking_in_manifest_and_json(auto_bundle, capsys):
    from edge.bundle import open_bundle
    from edge.cli import main as edge_main
    from edge.decoders import load_decoder
    from export.data import load_epochs

    path, result = auto_bundle
    ranking = result["ranking"]
    assert [r["rank"] for r in ranking] == list(range(1, len(CHEAP) + 1))
    accs = [(r["cv_accuracy"], r["cv_loglik"]) for r in ranking]
    assert accs == sorted(accs, reverse=True)
    bundle = open_bundle(path)
    assert bundle.decoder_names[0] == result["default_decoder"] == ranking[0]["decoders"][0]
    assert bundle.decoder_names == result["decoders"]
    assert bundle.manifest["auto"]["ranking"] == ranking
    assert "leave-one-run-out" in bundle.manifest["auto"]["scheme"]
    # the edge loads and runs the default decoder on the held-out run
    assert edge_main(["check", str(path), "--json"]) == 0
    check = json.loads(capsys.readouterr().out)
    assert check["decoder"] == ranking[0]["decoders"][0]
    test = load_epochs([S007], window=WINDOW, runs=[12])
    dec = load_decoder(bundle, bundle.decoder_names[0])
    p = dec.predict_proba(test.X)
    assert p.shape == (len(test.y), 2) and np.allclose(p.sum(1), 1)
    assert np.mean(p.argmax(1) == test.y) > 0.6  # S007 is separable


def test_riemann_decoders_adapt_online_by_default(auto_bundle, tmp_path, capsys):
    """auto writes its Riemannian decoders with the runtime's online re-centering on (60 s, as
    ``mi-export riemann``); ``--adapt-horizon 0`` writes them without."""
    from edge.bundle import open_bundle
    from edge.decoders import load_decoder

    bundle = open_bundle(auto_bundle[0])
    assert bundle.decoder_spec("riemann")["params"]["adapt_horizon_s"] == 60.0
    assert load_decoder(bundle, "riemann").adapt_horizon_s == 60.0
    out = tmp_path / "off.mibundle"
    rc, _, err = _export(["auto", str(S007), "--runs", "4", "8", "--candidates", "riemann",
                          "--adapt-horizon", "0", "-q", "-o", str(out)], capsys)
    assert rc == 0, err
    assert open_bundle(out).decoder_spec("riemann")["params"]["adapt_horizon_s"] == 0.0


def test_ranking_never_sees_the_held_out_run(auto_bundle, tmp_path):
    """Scramble run 12 (labels permuted, EEG replaced by noise): the ranking made on runs 4
    and 8 is identical to the last digit."""
    import contextlib
    import io

    from export.cli import main

    _, result = auto_bundle
    with np.load(S007) as z:
        d = {k: z[k] for k in z.files}
    held = d["run"] == 12
    rng = np.random.default_rng(0)
    d["y"][held] = rng.permutation(d["y"][held])
    d["X"][held] = rng.standard_normal(d["X"][held].shape).astype(np.float32) * 20
    scrambled = tmp_path / "S007_imagery_left_right.npz"
    np.savez_compressed(scrambled, **d)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["auto", str(scrambled), "--runs", "4", "8", "--candidates", *CHEAP,
                     "-q", "--json", "--winner-only", "-o", str(tmp_path / "b.mibundle")]) == 0
    again = json.loads(buf.getvalue())
    keys = ("name", "rank", "cv_accuracy", "cv_loglik", "cv_trials")
    assert [{k: r[k] for k in keys} for r in again["ranking"]] == \
        [{k: r[k] for k in keys} for r in result["ranking"]]
    assert again["decoders"] == result["ranking"][0]["decoders"]  # winner only


def test_printed_table_and_pooled_net(tmp_path, capsys):
    """S002 as the pool for S007: the pooled Riemannian model and the pooled + fine-tuned net
    are ranked, every decoder lands in the bundle in rank order (a net's exact fp32 export
    before its int8), each records its pool."""
    from edge.bundle import open_bundle

    out = tmp_path / "S007p.mibundle"
    rc, text, err = _export(["auto", str(S007), "--runs", "4", "8", "--pool", str(S002),
                             "--candidates", "riemann_pooled", "stffda_pooled",
                             "--net-epochs", "3", "2", "-o", str(out)], capsys)
    assert rc == 0, err
    assert "candidate 2/2" in err and "inner fold 2/2" in err  # progress per candidate
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["rank", "candidate", "inner"]
    ranked = [ln.split()[1] for ln in lines[1:3]]
    assert sorted(ranked) == ["riemann_pooled", "stffda_pooled"]
    names = open_bundle(out).decoder_names
    assert names[0] == ("riemann_pooled" if ranked[0] == "riemann_pooled"
                        else "stffda_pooled_fp32")
    net = [n for n in names if n.startswith("stffda_pooled")]
    assert net[0] == "stffda_pooled_fp32" and "stffda_pooled_int8" in net
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["name"] for r in manifest["auto"]["ranking"]] == ranked
    assert manifest["provenance"]["stffda_pooled_fp32"]["pool_subjects"] == ["S002"]
    assert manifest["provenance"]["riemann_pooled"]["pool_subjects"] == ["S002"]


def test_crop_equals_a_narrow_load():
    from export.auto_candidates import NET_MARGIN_S, crop
    from export.data import load_epochs

    wide = load_epochs([S007], window=(WINDOW[0] - NET_MARGIN_S, WINDOW[1] + NET_MARGIN_S))
    narrow = load_epochs([S007], window=WINDOW)
    c = crop(wide, WINDOW)
    assert np.array_equal(c.X, narrow.X) and c.tmin == pytest.approx(narrow.tmin)
    assert Path(c.sources[0]) == S007
