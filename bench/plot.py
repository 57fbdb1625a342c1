"""p99 latency against offered load, and the connect phase of each scenario, for every peer of a run.

    bench/.venv/bin/python bench/plot.py RESULTS.jsonl [MORE.jsonl ...] -o docs/p99-vs-load.png

Reads the JSON lines of the shared compare.sh and of bench/loadgen.mjs alike (lines of
bench/loadgen.mjs get " (bench/loadgen.mjs)" after their label when several files are given). Lines
of one label at one rate step, from one file (REPEATS=3 bench/compare.sh) or several, are repeats:
each point is their median, with a min-max bar when there is more than one.

Left: p99 latency against offered load, from the saturate steps (--scenario). Offered load is the
deliveries per second the step asks for (expected_per_s); a filled marker is a step that passed the
SLO (no loss, p99 under the line) in every repeat, a hollow one failed in every repeat, a half-filled
one passed in some. Right: the connect phase (connect_phase_s, from the first connect to the last
open) of idle, storm and bigroom, one bar per peer.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

SLO_MS = 250
CONNECT_SCENARIOS = ("idle", "storm", "bigroom")

Record = dict[str, Any]


def records(paths: list[Path]) -> list[Record]:
    """Every measured line of the files, labelled as the plot shows it."""
    out = []
    for path in paths:
        for line in path.read_text().splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if "error" in record:
                continue
            if record.get("tool") == "bench/loadgen.mjs" and len(paths) > 1:
                record["label"] += " (bench/loadgen.mjs)"
            out.append(record)
    return out


def steps(rows: list[Record], scenario: str) -> dict[str, dict[float, list[Record]]]:
    """label -> rate per sender -> that step's repeats."""
    by_label: dict[str, dict[float, list[Record]]] = {}
    for r in rows:
        if r.get("scenario") != scenario or "latency_ms" not in r or r["latency_ms"]["p99"] is None:
            continue
        by_label.setdefault(r["label"], {}).setdefault(r["rate_per_sender"], []).append(r)
    return by_label


def passed(r: Record) -> bool:
    return r["lost"] == 0 and r["latency_ms"]["p99"] < SLO_MS


def colours(labels: list[str]) -> dict[str, Any]:
    """One colour per peer, the same in both panels; ours in black."""
    cycle = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3)
    return {label: "black" if label == "ours" else next(cycle) for label in labels}


def whiskers(values: list[float]) -> tuple[float, list[float], list[float]]:
    """The median, and its distance to the min and to the max (as errorbar's yerr)."""
    m = statistics.median(values)
    return m, [m - min(values)], [max(values) - m]


def plot_load(ax: Axes, rows: list[Record], scenario: str, colour: dict[str, Any]) -> int:
    """Panel (a); returns the most repeats any point is the median of."""
    most = 0
    by_label = steps(rows, scenario)
    for label, by_rate in sorted(by_label.items()):
        ours = label.startswith("ours")
        c = colour[label]
        xs, ys = [], []
        for rate in sorted(by_rate):
            reps = by_rate[rate]
            most = max(most, len(reps))
            x = statistics.median(r["expected_per_s"] for r in reps)
            y, lo, hi = whiskers([r["latency_ms"]["p99"] for r in reps])
            npass = sum(passed(r) for r in reps)
            fill = "full" if npass == len(reps) else "none" if npass == 0 else "left"
            ax.errorbar(
                x,
                y,
                yerr=[lo, hi] if len(reps) > 1 else None,
                fmt="o",
                color=c,
                fillstyle=fill,
                markerfacecoloralt="white",
                markerfacecolor=c if fill != "none" else "white",
                markersize=7,
                capsize=3,
                elinewidth=1,
            )
            xs.append(x)
            ys.append(y)
        ax.plot(xs, ys, "-", label=label, linewidth=2.5 if ours else 1.2, color=c)
    if not by_label:
        ax.text(0.5, 0.5, f"no {scenario} steps in these files", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return most
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(SLO_MS, color="grey", linestyle="--", linewidth=1)
    slo_label = f"SLO: p99 < {SLO_MS} ms"
    ax.text(0.01, SLO_MS * 1.08, slo_label, color="grey", fontsize=8, transform=ax.get_yaxis_transform())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if str(int(v))[0] in "25" else ""))
    ax.set_xlabel("offered load (deliveries/s: 1 room x 200 clients, 4 senders)")
    ax.set_ylabel("p99 latency (ms)")
    failed = "hollow: step failed; half: failed in some repeats"
    ax.set_title(f"{scenario}: p99 latency vs offered load ({failed})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return most


def connect_label(sc: str, r: Record) -> str:
    """The scenario with its clients and handshakes in flight, from the line's config."""
    cfg = r.get("config") or {}
    clients = cfg.get("connections") or (cfg.get("rooms", 0) * cfg.get("clients_per_room", 0)) or None
    parts = [
        f"{clients:,} clients" if clients else "",
        f"{cfg['connect_concurrency']} in flight" if cfg.get("connect_concurrency") else "",
    ]
    return "\n".join([sc, ", ".join(p for p in parts if p)]).strip()


def plot_connect(ax: Axes, rows: list[Record], colour: dict[str, Any]) -> int:
    """Panel (b); returns the most repeats any bar is the median of."""
    phases: dict[str, dict[str, list[float]]] = {}
    labels: dict[str, str] = {}
    for r in rows:
        sc = r.get("scenario")
        if sc not in CONNECT_SCENARIOS or r.get("connect_phase_s") is None:
            continue
        phases.setdefault(sc, {}).setdefault(r["label"], []).append(r["connect_phase_s"])
        labels.setdefault(sc, connect_label(sc, r))
    scenarios = [sc for sc in CONNECT_SCENARIOS if sc in phases]
    if not scenarios:
        ax.text(0.5, 0.5, "no idle, storm or bigroom lines in these files", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return 0
    peers = sorted({p for sc in scenarios for p in phases[sc]})
    width = 0.8 / len(peers)
    most = 0
    for i, peer in enumerate(peers):
        for j, sc in enumerate(scenarios):
            values = phases[sc].get(peer)
            if not values:
                continue
            most = max(most, len(values))
            m, lo, hi = whiskers(values)
            x = j - 0.4 + width * (i + 0.5)
            ax.bar(
                x,
                m,
                width,
                color=colour[peer],
                label=peer if j == next(k for k, s in enumerate(scenarios) if peer in phases[s]) else None,
                yerr=[lo, hi] if len(values) > 1 else None,
                capsize=3,
                ecolor="grey",
            )
            ax.text(x, m + hi[0], f"{m:.2f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(scenarios)), [labels[sc] for sc in scenarios], fontsize=8)
    ax.set_ylabel("connect phase (s): first connect to last open")
    ax.set_title("connect phase per scenario", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--scenario", default="saturate", help="the stepped scenario of the left panel")
    args = parser.parse_args()

    rows = records(args.results)
    colour = colours(sorted({r["label"] for r in rows}))
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), dpi=120, gridspec_kw={"width_ratios": [3, 2]})
    most = max(plot_load(left, rows, args.scenario, colour), plot_connect(right, rows, colour))
    runs = ", ".join(p.stem for p in args.results)
    medians = f"; medians of up to {most} repeats, bars min-max" if most > 1 else ""
    fig.suptitle(f"run {runs}{medians}", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
