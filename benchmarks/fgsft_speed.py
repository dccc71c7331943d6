"""FGSFT cost: paper-grid training time per subject, and per-window edge decode time.

For each subject: train FGSFT with the paper grid on runs 4 and 8 (timed), export the bundle,
load it with the edge decoder, and time ``predict_proba`` on single windows of the held-out run
12, side by side with an MNE CSP+LDA online step on the same windows (8-30 Hz band-pass of the
window + ``CSP.transform`` + ``LDA.predict_proba``). Ratios are measured in one run; the 125 ms
ratio says what share of the default decision hop one decode takes on this machine.

Usage::

    python benchmarks/fgsft_speed.py [--subjects S001 S002 S007] [--grid paper] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scipy.signal import sosfiltfilt  # noqa: E402

from edge.bundle import open_bundle  # noqa: E402
from edge.decoders import load_decoder  # noqa: E402
from edge.filterbank import bandpass, bandpass_sos  # noqa: E402
from export.data import load_epochs  # noqa: E402
from export.fgsft import FGSFTConfig  # noqa: E402
from export.train_fgsft import train_fgsft, write_fgsft  # noqa: E402

HOP_S = 0.125


def _find(subject: str) -> Path:
    for base in (ROOT.parent / "shared" / "data" / "eegmmidb", ROOT / "data" / "eegmmidb"):
        p = base / f"{subject}_imagery_left_right.npz"
        if p.exists():
            return p
    raise SystemExit(f"no recording for {subject}")


def _median_time(fn, windows, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        for w in windows:
            t = time.perf_counter()
            fn(w)
            times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", nargs="+", default=["S001", "S002", "S007"])
    ap.add_argument("--grid", default="paper")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--window", type=float, nargs=2, default=(0.5, 2.5))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import mne
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    mne.set_log_level("WARNING")
    rows = []
    print(f"{'subject':<8}{'train s':>9}{'segments':>10}{'used':>6}{'edge ms':>9}"
          f"{'csp+lda ms':>11}{'edge/csp':>9}{'edge/hop':>9}", flush=True)
    for subject in args.subjects:
        path = _find(subject)
        train = load_epochs([path], window=tuple(args.window), runs=[4, 8])
        test = load_epochs([path], window=tuple(args.window), runs=[12])
        t = time.perf_counter()
        clf = train_fgsft(train, FGSFTConfig(grid=args.grid, jobs=args.jobs),
                          progress=lambda m: None)
        train_s = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            bundle = write_fgsft(Path(tmp) / "b.mibundle", "fgsft", clf, train)
            dec = load_decoder(open_bundle(bundle), "fgsft")
        csp = CSP(n_components=4, log=True).fit(bandpass(train.X, 8, 30, train.sfreq), train.y)
        lda = LinearDiscriminantAnalysis().fit(
            csp.transform(bandpass(train.X, 8, 30, train.sfreq)), train.y)

        sos = bandpass_sos(8.0, 30.0, float(train.sfreq))

        def csp_lda_step(window: np.ndarray, csp=csp, lda=lda, sos=sos) -> np.ndarray:
            # as an MNE user filters: scipy's sosfiltfilt, not the edge's cached filter
            xf = sosfiltfilt(sos, window, axis=-1)[None]
            return lda.predict_proba(csp.transform(xf))[0]

        windows = list(test.X)
        edge_s = _median_time(lambda w, dec=dec: dec.predict_proba(w[None])[0], windows,
                              args.repeats)
        peer_s = _median_time(csp_lda_step, windows, args.repeats)
        row = {"subject": subject, "train_s": train_s, "segments": clf.scores_["n_segments"],
               "segments_used": clf.scores_["n_segments_used"], "edge_ms": 1e3 * edge_s,
               "csp_lda_ms": 1e3 * peer_s, "edge_over_csp_lda": edge_s / peer_s,
               "edge_over_hop": edge_s / HOP_S}
        rows.append(row)
        print(f"{subject:<8}{train_s:>9.1f}{row['segments']:>10}{row['segments_used']:>6}"
              f"{row['edge_ms']:>9.2f}{row['csp_lda_ms']:>11.2f}{row['edge_over_csp_lda']:>9.1f}"
              f"{row['edge_over_hop']:>9.3f}", flush=True)
    print(f"grid {args.grid}, {args.jobs} jobs, window {args.window[0]}-{args.window[1]} s; "
          f"edge/hop is the share of a {HOP_S * 1e3:.0f} ms decision hop one window takes")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
