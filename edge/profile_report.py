"""What ``mi-edge profile`` writes: a JSON file, a markdown table, per-hop CSV and PNG plots.

matplotlib is not part of the runtime's install on the Pi (``pip install .`` brings numpy,
scipy, onnxruntime, brainflow and pyserial only). It is imported here, lazily, after the run;
where it is missing the JSON, the table and the CSV are still written and the report says
``pip install matplotlib`` adds the plots.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.loop import LoopConfig, RunStats
from edge.profiling import Probes, machine_info, percentiles

__all__ = ["ProfileRun", "build_report", "summarize", "write_report", "markdown_table"]

log = logging.getLogger(__name__)

_ORDER = ("read", "read_call", "preprocess", "decode", "decision", "serial_write", "e2e")


def _ordered(stages: list[str]) -> list[str]:
    return sorted(stages, key=lambda s: (_ORDER.index(s.split(":")[0]), stages.index(s)))


@dataclass
class ProfileRun:
    """What ``mi-edge profile`` ran and measured, besides the probes."""

    bundle: Path
    board: str  # the board's label
    serial_port: str
    primary: Any  # Decoder
    compare: list[Any]  # Decoders compared on the same windows
    skipped: dict[str, str]  # decoders that did not load here, and why
    config: LoopConfig
    duration_s: float | None
    compare_on: bool
    started_unix: float
    usage: dict[str, float]  # edge.profiling.CpuMeter.read()
    peak_rss: int  # bytes
    stats: RunStats
    serial_dropped: int


def build_report(run: ProfileRun, probes: Probes) -> dict[str, Any]:
    """The profile report: what ran where, the run's counts, the stage percentiles
    (:func:`summarize`) and what the probes themselves cost."""
    config, stats = run.config, run.stats
    report: dict[str, Any] = {
        "tool": "mi-edge profile", "started_unix": round(run.started_unix, 3),
        "bundle": str(run.bundle), "bundle_name": run.bundle.name,
        "board": run.board, "serial_port": run.serial_port,
        "primary": run.primary.name,
        "decoders_loaded": {d.name: {"kind": d.kind, "n_samples": d.n_samples}
                            for d in [run.primary, *run.compare]},
        "decoders_skipped": run.skipped,
        "config": {"hop_s": config.hop_s, "poll_s": config.poll_s,
                   "duration_s": run.duration_s, "compare": run.compare_on},
        "machine": machine_info(),
    }
    wall = run.usage["wall_s"]
    report["run"] = {
        "wall_s": wall, "hops": stats.hops, "reads": stats.reads,
        "hops_per_s": round(stats.hops / wall, 3),
        "decisions": stats.decisions, "decisions_per_s": round(stats.decisions / wall, 3),
        "samples": stats.samples, "faults": stats.faults, "bad_windows": stats.bad_windows,
        "lost_samples": stats.lost_samples, "skipped_hops": stats.skipped_hops,
        "serial_dropped": run.serial_dropped,
        **{k: v for k, v in run.usage.items() if k != "wall_s"},
        "peak_rss_mib": round(run.peak_rss / 2**20, 2),
    }
    report.update(summarize(probes))
    report["probe_overhead"] = _probe_overhead(report, probes, config)
    return report


def _probe_overhead(report: dict[str, Any], probes: Probes,
                    config: LoopConfig) -> dict[str, Any]:
    """The probes' cost per hop (with the polls between hops), against the processing time."""
    cost = probes.self_cost()
    own = report["e2e_split"].get("processing_p50_ms")
    if own is None:  # no e2e (no Unix timestamps): compare with what the loop itself timed
        own = sum(report["stages"][s]["p50_ms"] or 0.0 for s in
                  ("preprocess", f"decode:{probes.primary}", "decision", "serial_write"))
    polls_per_hop = (config.hop_s / max(config.poll_s, 1e-3) if config.poll_s is not None
                     else report["run"]["reads"] / max(report["run"]["hops"], 1))
    per_hop = cost["per_hop_us"] + (polls_per_hop - 1) * cost["per_read_us"]
    return {
        **{k: round(v, 4) for k, v in cost.items()},
        "per_hop_with_polls_us": round(per_hop, 3),
        "share_of_processing_p50": round(per_hop * 1e-3 / own, 6) if own else None,
        "share_of_hop": round(per_hop * 1e-6 / config.hop_s, 7),
    }


def summarize(probes: Probes) -> dict[str, Any]:
    """Stage percentiles, the e2e split into BrainFlow delivery and our processing, and the
    side-by-side decoder comparison (each decoder's cost and the e2e it would give as the
    primary: this hop's e2e with the primary's decode time replaced by its own)."""
    stages = {name: percentiles(probes.column(name)) for name in _ordered(probes.stages)}
    e2e = probes.column("e2e")
    read = probes.column("read")
    ok = np.isfinite(e2e) & np.isfinite(read)
    split: dict[str, Any] = {"n": int(ok.sum())}
    if ok.any():
        own = e2e[ok] - read[ok]
        split.update({
            "e2e_p50_ms": round(float(np.median(e2e[ok])) * 1e3, 4),
            "e2e_p99_ms": round(float(np.percentile(e2e[ok], 99)) * 1e3, 4),
            "delivery_p50_ms": round(float(np.median(read[ok])) * 1e3, 4),
            "delivery_p99_ms": round(float(np.percentile(read[ok], 99)) * 1e3, 4),
            "processing_p50_ms": round(float(np.median(own)) * 1e3, 4),
            "processing_p99_ms": round(float(np.percentile(own, 99)) * 1e3, 4),
            # share of the mean e2e that is BrainFlow's delivery (means add up, medians do not)
            "delivery_share_of_mean": round(float(read[ok].mean() / e2e[ok].mean()), 4),
        })
        # what the stages account for: e2e - read - preprocess - decode - decision - write
        parts = read + probes.column("preprocess") + probes.column(f"decode:{probes.primary}") \
            + probes.column("decision") + probes.column("serial_write")
        rest = e2e - parts
        rest = rest[np.isfinite(rest)]
        if rest.size:
            split["unattributed_p50_ms"] = round(float(np.median(rest)) * 1e3, 4)
    primary = probes.column(f"decode:{probes.primary}")
    compare: dict[str, Any] = {}
    for name in [probes.primary, *(d.name for d in probes.compare)]:
        dec = probes.column(f"decode:{name}")
        entry: dict[str, Any] = {"primary": name == probes.primary,
                                 "decode": percentiles(dec),
                                 "projected_e2e": percentiles(e2e - primary + dec)}
        if name != probes.primary:
            entry["errors"] = probes.compare_errors.get(name, 0)
        compare[name] = entry
    return {"stages": stages, "e2e_split": split, "decoders": compare,
            "hops_recorded": probes.n, "hops_with_non_unix_timestamps":
                probes.non_unix_timestamps}


def markdown_table(report: dict[str, Any]) -> str:
    """The report as markdown: run line, stage table, decoder comparison, probe cost."""
    run, m = report["run"], report["machine"]
    lines = [
        f"# mi-edge profile: {report['bundle_name']} on {report['board']}",
        "",
        f"Machine: {m['cpu_model']} ({m['cores']} cores)"
        + (f", {m['device_model']}" if m.get("device_model") else "")
        + f"; load average {m['load_avg_1_5_15']}. "
        f"{run['wall_s']:.1f} s, {run['hops']} hops ({run['hops_per_s']:.2f}/s), "
        f"{run['decisions']} decisions ({run['decisions_per_s']:.2f}/s), CPU "
        f"{100 * run['cpu_share_of_one_core']:.1f} % of one core, peak RSS "
        f"{run['peak_rss_mib']:.1f} MiB.",
        "",
        "| stage | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    for name, s in report["stages"].items():
        lines.append(f"| {name} | {s['n']} | {f(s['p50_ms'])} | {f(s['p95_ms'])} | "
                     f"{f(s['p99_ms'])} | {f(s['max_ms'])} |")
    sp = report["e2e_split"]
    if sp.get("n"):
        lines += ["", f"Sample-to-serial (e2e) p50 {sp['e2e_p50_ms']:.2f} ms, p99 "
                  f"{sp['e2e_p99_ms']:.2f} ms; of it BrainFlow delivery (read) p50 "
                  f"{sp['delivery_p50_ms']:.2f} ms, p99 {sp['delivery_p99_ms']:.2f} ms and our "
                  f"processing p50 {sp['processing_p50_ms']:.2f} ms, p99 "
                  f"{sp['processing_p99_ms']:.2f} ms; delivery is "
                  f"{100 * sp['delivery_share_of_mean']:.0f} % of the mean e2e."]
    lines += ["", "Decoders on the same windows (the primary decides; the others run after the "
              "decision is sent):", "",
              "| decoder | decode p50 ms | p99 ms | max ms | e2e as primary p50 ms | p99 ms |",
              "|---|---:|---:|---:|---:|---:|"]
    for name, d in report["decoders"].items():
        dec, pe = d["decode"], d["projected_e2e"]
        tag = " (primary)" if d["primary"] else ""
        lines.append(f"| {name}{tag} | {f(dec['p50_ms'])} | {f(dec['p99_ms'])} | "
                     f"{f(dec['max_ms'])} | {f(pe['p50_ms'])} | {f(pe['p99_ms'])} |")
    po = report["probe_overhead"]
    lines += ["", f"Probe cost: {po['per_hop_us']:.2f} µs per hop + {po['per_read_us']:.2f} µs "
              f"per read, {100 * po['share_of_processing_p50']:.3f} % of the median processing "
              f"time per hop (measured on this machine, {po['repeats']} repetitions)."]
    if report.get("plots_note"):
        lines += ["", report["plots_note"]]
    return "\n".join(lines) + "\n"


def _write_csv(path: Path, probes: Probes) -> None:
    n = probes.n
    t = probes.t_hop[:n] - probes.t_start
    cols = np.column_stack([t, probes.decided[:n].astype(float),
                            *(probes.column(s) * 1e3 for s in probes.stages)])
    header = ",".join(["t_s", "decided", *(f"{s}_ms" for s in probes.stages)])
    np.savetxt(path, cols, delimiter=",", header=header, comments="", fmt="%.6g")


def _plots(out_dir: Path, probes: Probes, title: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in _ordered(probes.stages) if np.isfinite(probes.column(s)).any()]
    files = []
    ncol = 3
    nrow = -(-len(stages) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.9 * nrow), squeeze=False)
    for ax, name in zip(axes.flat, stages, strict=False):
        x = probes.column(name)
        x = x[np.isfinite(x)] * 1e3
        ax.hist(x, bins=60, color="#4477aa")
        for q, style in ((50, "-"), (99, "--")):
            ax.axvline(np.percentile(x, q), color="#cc3311", ls=style, lw=1,
                       label=f"p{q} {np.percentile(x, q):.2f} ms")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("ms")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(stages):]:
        ax.axis("off")
    fig.suptitle(f"{title}: latency per stage ({probes.n} hops)", fontsize=11)
    fig.tight_layout()
    path = out_dir / "latency_histograms.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path.name)

    t = probes.t_hop[: probes.n] - probes.t_start
    fig, ax = plt.subplots(figsize=(10, 4))
    for name in ("e2e", "read", "preprocess", f"decode:{probes.primary}", "serial_write"):
        y = probes.column(name) * 1e3
        if np.isfinite(y).any():
            ax.plot(t, y, ".", ms=2.5, label=name)
    ax.set_xlabel("time since start, s")
    ax.set_ylabel("ms")
    ax.set_yscale("log")
    ax.set_title(f"{title}: latency over time")
    ax.legend(fontsize=8, markerscale=3, loc="upper right")
    fig.tight_layout()
    path = out_dir / "latency_over_time.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path.name)
    return files


def write_report(out_dir: str | Path, report: dict[str, Any], probes: Probes) -> dict[str, Any]:
    """Write ``profile.json``, ``profile.md``, ``hops.csv`` and the PNGs into ``out_dir``.

    Returns the report with ``files`` (names in ``out_dir``) and, without matplotlib,
    ``plots_note``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ["profile.json", "profile.md", "hops.csv"]
    try:
        files += _plots(out, probes, report["bundle_name"])
    except ImportError:
        report["plots_note"] = ("Plots skipped: matplotlib is not installed (it is not part of "
                                "the runtime install); `pip install matplotlib` adds them.")
        log.warning(report["plots_note"])
    report["files"] = files
    _write_csv(out / "hops.csv", probes)
    (out / "profile.md").write_text(markdown_table(report))
    (out / "profile.json").write_text(json.dumps(report, indent=1))
    return report
