"""Medians per label of flood.py's JSON lines: `python bench/flood/table.py results/<ts>-compare.jsonl ...`."""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

# (row title, path into a result)
ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("worker CPU % during flood, median", ("worker_cpu_pct", "flood", "median")),
    ("worker CPU % during flood, max", ("worker_cpu_pct", "flood", "max")),
    ("worker CPU % 3 s after close, median", ("worker_cpu_pct", "after_close", "median")),
    ("worker CPU % 3 s after close, max", ("worker_cpu_pct", "after_close", "max")),
    ("page load ms idle, p50", ("page_ms", "idle", "p50")),
    ("page load ms during flood, p50", ("page_ms", "flood", "p50")),
    ("page load ms during flood, max", ("page_ms", "flood", "max")),
    ("page loads failed during flood", ("page_ms", "flood", "failed")),
    ("join ms idle, p50", ("join_ms", "idle", "p50")),
    ("join ms during flood, p50", ("join_ms", "flood", "p50")),
    ("join ms during flood, max", ("join_ms", "flood", "max")),
    ("joins failed during flood", ("join_ms", "flood", "failed")),
    ("requests written", ("flood", "sent")),
    ("seconds to write them", ("flood", "send_s")),
    ("history replies in the window", ("flood", "history_replies_in_window")),
    ("error replies", ("flood", "errors")),
    ("server close code", ("flood", "server_close_code")),
    ("server close frame at s", ("flood", "server_close_at_s")),
    ("client close sent at s", ("flood", "close_sent_at_s")),
    ("worker RSS MB, max", ("worker_rss_mb", "max")),
    ("host busy % (all CPUs)", ("host_busy_pct",)),
    ("harness CPU % (of one)", ("harness_cpu_pct",)),
]


def pick(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    if path == ("flood", "errors"):
        replies = result.get("flood", {}).get("replies", {})
        return sum(v for k, v in replies.items() if k.startswith("error"))
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def median(values: list[Any]) -> str:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not numbers:
        return "-"
    m = statistics.median(numbers)
    text = f"{m:.0f}" if abs(m) >= 100 or float(m).is_integer() else f"{m:.2f}"
    return text if len(set(numbers)) == 1 else f"{text} ({min(numbers):g}..{max(numbers):g})"


def main() -> int:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name in sys.argv[1:]:
        for line in Path(name).read_text().splitlines():
            if line.startswith("{"):
                result = json.loads(line)
                runs[result["label"]].append(result)
    if not runs:
        print("no results", file=sys.stderr)
        return 1
    labels = list(runs)
    for label in labels:
        ok = [r for r in runs[label] if "error" not in r]
        failed = len(runs[label]) - len(ok)
        commits = sorted({(r.get("commit"), r.get("diff_sha1")) for r in runs[label]}, key=str)
        trees = ", ".join(f"{c}" + (f"+{d}" if d else "") for c, d in commits)
        print(f"{label}: {len(ok)} runs ok, {failed} failed; code {trees}")
        for r in runs[label]:
            if "error" in r:
                print(f"  failed: {r['error'][:300]}")
        runs[label] = ok
    width = max(len(title) for title, _ in ROWS)
    print(f"\n{'median over runs (min..max)':<{width}}  " + "  ".join(f"{label:>22}" for label in labels))
    for title, path in ROWS:
        cells = [median([pick(r, path) for r in runs[label]]) for label in labels]
        print(f"{title:<{width}}  " + "  ".join(f"{cell:>22}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
