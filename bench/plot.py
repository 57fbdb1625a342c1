"""p99 latency against offered load, one line per peer, from the saturate steps of one run.

    bench/.venv/bin/python bench/plot.py RESULTS.jsonl [MORE.jsonl ...] -o docs/p99-vs-load.png

Reads the JSON lines of the shared compare.sh and of bench/loadgen.mjs alike. Offered load is the
deliveries per second the step asks for (expected_per_s); hollow markers are steps that failed the
SLO (loss, or p99 over the line).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

SLO_MS = 250


def steps(paths: list[Path], scenario: str) -> dict[str, list[dict]]:
    by_label: dict[str, list[dict]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("scenario") != scenario or "latency_ms" not in record:
                continue
            label = record["label"]
            if record.get("tool") == "bench/loadgen.mjs" and len(paths) > 1:
                label += " (bench/loadgen.mjs)"
            by_label.setdefault(label, []).append(record)
    return by_label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--scenario", default="saturate")
    args = parser.parse_args()

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for label, records in sorted(steps(args.results, args.scenario).items()):
        records.sort(key=lambda r: r["expected_per_s"])
        records = [r for r in records if r["latency_ms"]["p99"] is not None]
        x = [r["expected_per_s"] for r in records]
        y = [r["latency_ms"]["p99"] for r in records]
        ours = label.startswith("ours")
        (line,) = ax.plot(x, y, "-", label=label, linewidth=2.5 if ours else 1.2, color="black" if ours else None)
        for r, xi, yi in zip(records, x, y, strict=True):
            passed = r["lost"] == 0 and yi is not None and yi < SLO_MS
            ax.plot(xi, yi, "o", color=line.get_color(), markerfacecolor=line.get_color() if passed else "white")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(SLO_MS, color="grey", linestyle="--", linewidth=1)
    slo_label = f"SLO: p99 < {SLO_MS} ms"
    ax.text(0.01, SLO_MS * 1.08, slo_label, color="grey", fontsize=8, transform=ax.get_yaxis_transform())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if str(int(v))[0] in "25" else ""))
    ax.set_xlabel("offered load (deliveries/s: 1 room x 200 clients, 4 senders)")
    ax.set_ylabel("p99 latency (ms)")
    runs = ", ".join(p.stem for p in args.results)
    ax.set_title(f"{args.scenario}: p99 latency vs offered load, run {runs} (hollow: step failed)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
