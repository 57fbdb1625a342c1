"""The side-by-side tables of one compare run, in Markdown, with the targets checked.

    python3 bench/report.py RESULTS.jsonl [--ref ours]

Every figure comes from the one file (one run); ratios are ours / peer. "other CPU" is what the
rest of the host used during the window (host busy minus the peer, redis and the load generator, in
% of one core): a row with a lot of it was disturbed by something else on the machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

Row = dict[str, Any]
SLO_MS = 250


def load(path: Path) -> list[Row]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def other_cpu(r: Row) -> float | None:
    """% of one core used by anything but the peer, redis and the load generator."""
    host, srv, lg = r.get("host_cpu_busy_pct"), r.get("server", {}).get("cpu_pct"), r.get("loadgen", {}).get("cpu_pct")
    if host is None or srv is None or lg is None:
        return None
    aux = r.get("aux") or {}
    redis = 100 * (aux.get("cpu_s") or 0) / r["window_s"] if r.get("window_s") else 0
    return max(0.0, 2 * host - srv - lg - redis)


def ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def num(x: float | None, d: int = 0) -> str:
    return "-" if x is None else f"{x:,.{d}f}"


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = [f"| {' | '.join(head)} |", f"|{'|'.join('---' for _ in head)}|"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    return "\n".join(lines)


def best_passing(steps: list[Row]) -> Row | None:
    passing = [
        s for s in steps if s["lost"] == 0 and s["latency_ms"]["p99"] is not None and s["latency_ms"]["p99"] < SLO_MS
    ]
    return max(passing, key=lambda s: s["rate_per_sender"], default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--ref", default="ours")
    args = parser.parse_args()
    rows = load(args.results)
    peers = list(dict.fromkeys(r["label"] for r in rows))
    by = {(r["scenario"], r["label"]): r for r in rows if r.get("step", 1) == 1 or r["mode"] == "idle"}
    steps = {p: [r for r in rows if r["scenario"] == "saturate" and r["label"] == p] for p in peers}
    out = []

    for sc in ("rooms", "bigroom"):
        body = []
        for p in peers:
            r = by.get((sc, p))
            if r is None or "latency_ms" not in r:
                continue
            lat = r["latency_ms"]
            body.append(
                [
                    p,
                    str(r["config"]["workers"]),
                    f"{r['delivered']}/{r['expected']}",
                    str(r["lost"]),
                    num(r["delivered_per_s"]),
                    ms(lat["p50"]),
                    ms(lat["p90"]),
                    ms(lat["p99"]),
                    ms(lat["max"]),
                    num(r["server"]["cpu_pct"]),
                    num(r["cpu_ms_per_1k_deliveries"]),
                    num(r["server"]["rss_mb_peak"]),
                    num(other_cpu(r)),
                ]
            )
        out.append(
            f"**{sc}**\n\n"
            + table(
                [
                    "peer",
                    "W",
                    "delivered/expected",
                    "lost",
                    "deliv/s",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "max ms",
                    "srv CPU%",
                    "CPU ms/1k",
                    "srv RSS MB",
                    "other CPU%",
                ],
                body,
            )
        )

    body = []
    for p in peers:
        s = steps[p]
        if not s:
            continue
        best = best_passing(s)
        fail = next(
            (
                x
                for x in s
                if not (x["lost"] == 0 and x["latency_ms"]["p99"] is not None and x["latency_ms"]["p99"] < SLO_MS)
            ),
            None,
        )
        top = "" if fail or len(s) < s[0].get("steps", len(s)) else " (top step)"
        body.append(
            [
                p,
                " ".join(f"{x['rate_per_sender']}:{ms(x['latency_ms']['p99'])}" for x in s),
                f"{best['rate_per_sender']}{top}" if best else "none",
                num(best["delivered_per_s"]) if best else "-",
                f"{fail['rate_per_sender']}/s: p99 {ms(fail['latency_ms']['p99'])} ms, lost {fail['lost']}, "
                f"{num(fail['server']['cpu_pct'])}% CPU"
                if fail
                else "-",
            ]
        )
    out.append(
        "**saturate** (steps as rate/sender:p99 ms)\n\n"
        + table(["peer", "steps", "highest passing rate/sender", "deliveries/s at it", "first failing step"], body)
    )

    body = []
    for p in peers:
        r = by.get(("idle", p))
        if r is None or "server" not in r:
            continue
        ct = r.get("connect_time_ms") or r.get("join_ms") or {}
        body.append(
            [
                p,
                str(r["connected"]),
                str(r["still_open"]),
                f"{ms(ct.get('p50'))} / {ms(ct.get('p99'))}",
                f"{r['server']['rss_mb_before']} -> {r['server']['rss_mb_after']}",
                num(r["server"]["kb_per_conn"], 1),
                num((r.get("aux") or {}).get("kb_per_conn"), 1),
            ]
        )
    out.append(
        "**idle** (W=1, 2000 connections)\n\n"
        + table(
            [
                "peer",
                "connected",
                "open at end",
                "connect p50 / p99 ms",
                "RSS before -> after MB",
                "KB/conn",
                "redis KB/conn",
            ],
            body,
        )
    )

    ref = args.ref

    def ratio(a: float | None, b: float | None) -> str:
        return "-" if not a or not b else f"{a / b:.2f}"

    big, big_s = by.get(("bigroom", ref)), by.get(("bigroom", "socketio"))
    sat_ref, sat_tut = best_passing(steps.get(ref, [])), best_passing(steps.get("tutorial", []))
    idle_ref, idle_s = by.get(("idle", ref)), by.get(("idle", "socketio"))
    checks = []
    if big and big_s:
        p99r = big["latency_ms"]["p99"] / big_s["latency_ms"]["p99"]
        checks.append(
            [
                "bigroom: zero loss, p99 <= 2x socket.io's",
                f"lost {big['lost']}, p99 {ms(big['latency_ms']['p99'])} vs "
                f"{ms(big_s['latency_ms']['p99'])} ms = {p99r:.1f}x",
                "met" if big["lost"] == 0 and p99r <= 2 else "NOT met",
            ]
        )
        cr = big["cpu_ms_per_1k_deliveries"] / big_s["cpu_ms_per_1k_deliveries"]
        checks.append(
            [
                "bigroom: CPU per 1k deliveries <= 3x socket.io's",
                f"{num(big['cpu_ms_per_1k_deliveries'])} vs {num(big_s['cpu_ms_per_1k_deliveries'])} ms = {cr:.1f}x",
                "met" if cr <= 3 else "NOT met",
            ]
        )
    if steps.get(ref) and steps.get("tutorial"):
        a = sat_ref["delivered_per_s"] if sat_ref else 0
        b = sat_tut["delivered_per_s"] if sat_tut else 0
        verdict = "n/a: the tutorial passed no step" if not b else "met" if a >= 5 * b else "NOT met"
        checks.append(
            ["saturate: passing deliveries/s >= 5x the tutorial's", f"{num(a)} vs {num(b)} = {ratio(a, b)}x", verdict]
        )
    if idle_ref and idle_s:
        a, b = idle_ref["server"]["kb_per_conn"], idle_s["server"]["kb_per_conn"]
        checks.append(
            [
                "idle: KB per connection <= socket.io's",
                f"{a} vs {b} KB = {ratio(a, b)}x",
                "met" if a <= b else "NOT met",
            ]
        )
    out.append("**targets** (same run)\n\n" + table(["target", "measured", "verdict"], checks))
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
