"""Tables of ``benchmarks/nets_accuracy.py`` from its per-subject cache (markdown, for the
README): accuracy per subject and method, the mean, the contribution of each STAFNet component
(full minus ablation, as the seed paper's Table 4), and the int8 export's agreement."""

from __future__ import annotations

from typing import Any

import numpy as np

#: STAFNet variants in table order, with what each ablation removes or replaces.
ABLATION_ROWS = {
    "stafnet": "STAFNet (L = 2, adaptive distance-initialised graph, cross-attention fusion)",
    "no_graph": "w/o graph module (AGCM)",
    "no_temporal": "w/o temporal self-attention module (TSRM)",
    "static_pli": "static PLI adjacency instead of the adaptive one",
    "static_corr": "static correlation adjacency instead of the adaptive one",
    "fusion_add": "additive fusion (AF) instead of cross-attention fusion",
    "fusion_concat": "concatenation fusion (CF) instead of cross-attention fusion",
    "graph_l6": "L = 6 graph layers (the paper's depth) instead of 2",
}
PEERS = ("fgsft", "csp_lda", "ts_lr")
TITLES = {"stafnet": "STAFNet", "no_graph": "w/o graph", "no_temporal": "w/o temporal",
          "static_pli": "static PLI", "static_corr": "static corr", "fusion_add": "add fusion",
          "fusion_concat": "concat fusion", "graph_l6": "L = 6", "stafnet_int8": "STAFNet int8",
          "stffda": "STFF-DA", "eegnet": "EEGNet", "pooled_loso": "pooled (other subjects)",
          "pooled_ft": "pooled + fine-tuned", "fgsft": "FGSFT", "csp_lda": "CSP+LDA",
          "ts_lr": "TS+LR"}


def _folds(data: dict[str, Any]) -> list[str]:
    return sorted(k for k in data if k.startswith("fold"))


def accuracy(data: dict[str, Any], col: str) -> float | None:
    """Accuracy of one column over all folds of a subject; None unless every fold has it."""
    if col in PEERS:
        peers = data.get("subject", {}).get("peers")
        return None if peers is None else float(peers[col])
    folds = _folds(data)
    rows = []
    for f in folds:
        r = data[f].get("stafnet", {}).get("int8") if col == "stafnet_int8" else data[f].get(col)
        if r is None:
            return None
        rows.append(r)
    if len(folds) < 2:
        return None
    return sum(r["correct"] for r in rows) / sum(r["n"] for r in rows)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def print_tables(datas: list[dict[str, Any]], subjects: list[str], cols: list[str],
                 header: str) -> None:
    acc = {c: [accuracy(d, c) for d in datas] for c in cols}
    print(header)
    print()
    print("| subject | " + " | ".join(TITLES.get(c, c) for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for i, s in enumerate(subjects):
        print(f"| {s} | " + " | ".join(_fmt(acc[c][i]) for c in cols) + " |")
    done = [i for i in range(len(subjects)) if all(acc[c][i] is not None for c in cols)]
    print(f"| **mean ({len(done)})** | " + " | ".join(
        f"**{np.mean([acc[c][i] for i in done]):.3f}**" if done else "-" for c in cols) + " |")
    missing = [subjects[i] for i in range(len(subjects)) if i not in done]
    if missing:
        print(f"\n(mean over subjects with every column; incomplete: {', '.join(missing)})")
    _components(acc, done, subjects)
    _int8(datas)


def _components(acc: dict[str, list], done: list[int], subjects: list[str]) -> None:
    if "stafnet" not in acc or not done:
        return
    full = np.array([acc["stafnet"][i] for i in done])
    print(f"\nContribution of each component (STAFNet minus the ablation, mean over "
          f"{len(done)} subjects: {', '.join(subjects[i] for i in done)}):\n")
    print("| variant | mean accuracy | STAFNet minus variant (paired SE) | "
          "subjects better / worse / equal |")
    print("|---|---:|---:|---:|")
    for c, what in ABLATION_ROWS.items():
        if c not in acc:
            continue
        a = np.array([acc[c][i] for i in done])
        d = full - a
        se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        mean = 0.0 if abs(d.mean()) < 5e-4 else float(d.mean())
        print(f"| {what} | {a.mean():.3f} | {mean:+.3f} ({se:.3f}) | {int(np.sum(d > 1e-9))} / "
              f"{int(np.sum(d < -1e-9))} / {int(np.sum(np.abs(d) <= 1e-9))} |")


def _int8(datas: list[dict[str, Any]]) -> None:
    rows = [f["stafnet"]["int8"] for d in datas for k, f in d.items()
            if k.startswith("fold") and "stafnet" in f and "int8" in f["stafnet"]]
    if not rows:
        return
    n = sum(r["n"] for r in rows)
    agree = sum(r["agree"] for r in rows)
    print(f"\nSTAFNet ONNX Runtime dynamic int8 vs fp32 on {n} held-out trials: agreement "
          f"{agree / n:.3f}, max |dp| {max(r['max_dev'] for r in rows):.4f}, accuracy fp32 "
          f"{sum(r['fp32_correct'] for r in rows) / n:.3f} vs int8 "
          f"{sum(r['correct'] for r in rows) / n:.3f}; {rows[-1]['bytes_fp32']} bytes fp32, "
          f"{rows[-1]['bytes_int8']} bytes int8")
