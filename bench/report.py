"""The side-by-side tables of one compare run, in Markdown, with the targets checked.

    bench/.venv/bin/python bench/report.py RESULTS.jsonl [--ref ours] [--vs socketio] [--out FILE]

Every figure comes from the one file (one run); ratios are ours / peer. A file may hold several
repeats (`REPEATS=3 bench/compare.sh ...`): the n-th line of a (scenario, peer) is its n-th repeat,
and for saturate a new repeat starts where the step number does not go up. Each figure is then the
median over the repeats, and every table says how many repeats its medians are of. Saturate takes
the highest passing step of each repeat first, then the median of those deliveries/s.

"host busy" is `host_cpu_busy_pct`: the whole machine, in % of both cores, over the measured window
(the hold for idle, the sending window otherwise; never the connect phase). "other CPU" is what the
rest of the host used in that window (host busy minus the peer, redis and the load generator, in %
of one core; idle has no redis figure, so there it counts redis too): a row with a lot of it was
disturbed by something else on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

Row = dict[str, Any]
SLO_MS = 250
# Derived on each line before any median is taken: the median of a difference is not the
# difference of the medians.
OTHER_CPU = "_other_cpu_pct"


def load(path: Path) -> list[Row]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    for r in rows:
        r[OTHER_CPU] = other_cpu(r)
    return rows


def other_cpu(r: Row) -> float | None:
    """% of one core used by anything but the peer, redis and the load generator."""
    host, lg = r.get("host_cpu_busy_pct"), (r.get("loadgen") or {}).get("cpu_pct")
    srv = (r.get("server") or {}).get("cpu_pct")
    if srv is None and r.get("mode") == "idle":
        hold_cpu, hold = (r.get("server") or {}).get("hold_cpu_s"), (r.get("config") or {}).get("hold_s")
        srv = 100 * hold_cpu / hold if hold_cpu is not None and hold else None
    if host is None or srv is None or lg is None:
        return None
    aux = r.get("aux") or {}
    redis = 100 * (aux.get("cpu_s") or 0) / r["window_s"] if r.get("window_s") else 0
    return max(0.0, 2 * host - srv - lg - redis)


def is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def median(values: list[Any]) -> float | None:
    """The median of the numbers among `values` (None if there are none)."""
    nums = [v for v in values if is_number(v)]
    return statistics.median(nums) if nums else None


def median_row(rows: list[Row]) -> Row:
    """One row like `rows[0]` whose every number is the median of that number over `rows`."""
    out: Row = {}
    for key in dict.fromkeys(k for r in rows for k in r):
        values = [r.get(key) for r in rows]
        if any(isinstance(v, dict) for v in values):
            out[key] = median_row([v for v in values if isinstance(v, dict)])
        elif any(is_number(v) for v in values):
            out[key] = median(values)
        else:
            out[key] = next((v for v in values if v is not None), None)
    return out


def ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def num(x: float | None, d: int = 0) -> str:
    return "-" if x is None else f"{x:,.{d}f}"


def count(x: float | None) -> str:
    """A count as the harness writes it (no separators); a median of two may end in .5."""
    return "-" if x is None else f"{x:.0f}" if x == int(x) else f"{x:.1f}"


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = [f"| {' | '.join(head)} |", f"|{'|'.join('---' for _ in head)}|"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    return "\n".join(lines)


def section(title: str, note: str, head: list[str], body: list[tuple[int | str, list[str]]]) -> str:
    """A titled table; with repeats, says how many each row's medians are of."""
    ns = {n for n, _ in body if n}  # a row with nothing measured says so itself
    notes = [note] if note else []
    if ns and ns != {1}:
        if len(ns) == 1:
            notes.insert(0, f"median of {ns.pop()} repeats")
        else:
            notes.insert(0, "medians; repeats per row in `n`")
            head = [head[0], "n", *head[1:]]
            body = [(n, [cells[0], str(n), *cells[1:]]) for n, cells in body]
    heading = f"**{title}**" + (f" ({'; '.join(notes)})" if notes else "")
    return heading + "\n\n" + table(head, [cells for _, cells in body])


def passes(s: Row) -> bool:
    return s["lost"] == 0 and s["latency_ms"]["p99"] is not None and s["latency_ms"]["p99"] < SLO_MS


def best_passing(steps: list[Row]) -> Row | None:
    return max((s for s in steps if passes(s)), key=lambda s: s["rate_per_sender"], default=None)


def repeats(rows: list[Row], scenario: str, peer: str) -> list[Row]:
    """The measured lines of (scenario, peer), one per repeat, in file order."""
    return [r for r in rows if r["scenario"] == scenario and r["label"] == peer and "error" not in r]


def step_repeats(rows: list[Row], peer: str) -> list[list[Row]]:
    """The saturate steps of `peer`, one list per repeat: a repeat starts where the step does not go up."""
    runs: list[list[Row]] = []
    for r in rows:
        if r["scenario"] != "saturate" or r["label"] != peer or "error" in r or "latency_ms" not in r:
            continue
        if not runs or r.get("step", 1) <= runs[-1][-1].get("step", 1):
            runs.append([])
        runs[-1].append(r)
    return runs


def errors(rows: list[Row]) -> list[str]:
    seen: dict[str, int] = {}
    for r in rows:
        if "error" in r:
            key = f"{r['scenario']}/{r['label']}: {r['error']}"
            seen[key] = seen.get(key, 0) + 1
    return [f"{k} ({n}x)" if n > 1 else k for k, n in seen.items()]


def spread(values: list[Any], fmt: Callable[[Any], str]) -> str:
    """`fmt(median)`, with the worst (largest) repeat beside it when the repeats differ."""
    m, worst = median(values), max((v for v in values if is_number(v)), default=None)
    return fmt(m) if worst is None or worst == m else f"{fmt(m)} (max {fmt(worst)})"


def fanout_table(rows: list[Row], peers: list[str], sc: str) -> str:
    body = []
    for p in peers:
        reps = [r for r in repeats(rows, sc, p) if "latency_ms" in r]
        if not reps:
            continue
        r = median_row(reps)
        lat = r["latency_ms"]
        body.append(
            (
                len(reps),
                [
                    p,
                    count(r["config"]["workers"]),
                    f"{count(r['delivered'])}/{count(r['expected'])}",
                    spread([x["lost"] for x in reps], count),
                    num(r["delivered_per_s"]),
                    ms(lat["p50"]),
                    ms(lat["p90"]),
                    ms(lat["p99"]),
                    ms(lat["max"]),
                    num(r["server"]["cpu_pct"]),
                    num(r["cpu_ms_per_1k_deliveries"]),
                    num(r["server"]["rss_mb_peak"]),
                    num(r.get("connect_phase_s"), 2),
                    num(r.get("host_cpu_busy_pct")),
                    num(r[OTHER_CPU]),
                ],
            )
        )
    return section(
        sc,
        "",
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
            "connect s",
            "host busy %",
            "other CPU%",
        ],
        body,
    )


def saturate_table(rows: list[Row], peers: list[str]) -> str:
    body = []
    for p in peers:
        runs = step_repeats(rows, p)
        if not runs:
            continue
        n = len(runs)
        rates = sorted({s["rate_per_sender"] for run in runs for s in run})
        cells = []
        for rate in rates:
            at = [s for run in runs for s in run if s["rate_per_sender"] == rate]
            reached = "" if len(at) == n else f" ({len(at)}/{n})"
            cells.append(f"{rate}:{ms(median([s['latency_ms']['p99'] for s in at]))}{reached}")
        bests = [best_passing(run) for run in runs]
        fails = [next((x for x in run if not passes(x)), None) for run in runs]
        # A repeat's highest passing step is the top one when it ran every step and failed none.
        tops = [not f and len(run) >= run[0].get("steps", len(run)) for run, f in zip(runs, fails, strict=True)]
        at_best = [b for b in bests if b]
        each = [f"{b['rate_per_sender']}" if b else "none" for b in bests]
        if n == 1:
            highest = each[0] + (" (top step)" if tops[0] and bests[0] else "")
        else:
            marked = [e + ("*" if top else "") for e, top in zip(each, tops, strict=True)]
            highest = f"{count(best_rate(bests))} ({', '.join(marked)})"
        failing = [
            f"{f['rate_per_sender']}/s: p99 {ms(f['latency_ms']['p99'])} ms, lost {f['lost']}, "
            f"{num(f['server']['cpu_pct'])}% CPU"
            if f
            else "-"
            for f in fails
        ]
        body.append(
            (
                n,
                [
                    p,
                    " ".join(cells),
                    highest,
                    num(best_rate_deliveries(bests)) if at_best else "-",
                    num(median([b.get("host_cpu_busy_pct") for b in at_best])),
                    num(median([b[OTHER_CPU] for b in at_best])),
                    "; ".join(failing) if any(fails) else "-",
                ],
            )
        )
    note = "steps as rate/sender:p99 ms"
    if any(len(step_repeats(rows, p)) > 1 for p in peers):
        note += (
            "; a step's p99 is its median over the repeats that reached it, (k/n) where only k of n did; "
            "highest passing step per repeat in brackets, * = the top step"
        )
    return section(
        "saturate",
        note,
        [
            "peer",
            "steps",
            "highest passing rate/sender",
            "deliveries/s at it",
            "host busy % at it",
            "other CPU% at it",
            "first failing step",
        ],
        body,
    )


def best_rate(bests: list[Row | None]) -> float | None:
    """Median over repeats of the highest passing rate/sender (0 for a repeat that passed none)."""
    return median([b["rate_per_sender"] if b else 0 for b in bests]) if bests else None


def best_rate_deliveries(bests: list[Row | None]) -> float | None:
    """Median over repeats of the deliveries/s at the highest passing step (0 for one that passed none)."""
    return median([b["delivered_per_s"] if b else 0 for b in bests]) if bests else None


def idle_table(rows: list[Row], peers: list[str]) -> str:
    body = []
    for p in peers:
        reps = [r for r in repeats(rows, "idle", p) if "server" in r]
        if not reps:
            continue
        r = median_row(reps)
        ct = r.get("connect_time_ms") or r.get("join_ms") or {}
        body.append(
            (
                len(reps),
                [
                    p,
                    count(r["connected"]),
                    count(r["still_open"]),
                    f"{ms(ct.get('p50'))} / {ms(ct.get('p99'))}",
                    num(r.get("connect_phase_s"), 2),
                    f"{num(r['server']['rss_mb_before'], 1)} -> {num(r['server']['rss_mb_after'], 1)}",
                    num(r["server"]["kb_per_conn"], 1),
                    num((r.get("aux") or {}).get("kb_per_conn"), 1),
                    num(r.get("host_cpu_busy_pct")),
                    num(r[OTHER_CPU]),
                ],
            )
        )
    connections = next((r["config"]["connections"] for r in rows if r["scenario"] == "idle" and "error" not in r), 2000)
    return section(
        "idle",
        f"W=1, {connections} connections",
        [
            "peer",
            "connected",
            "open at end",
            "connect p50 / p99 ms",
            "connect s",
            "RSS before -> after MB",
            "KB/conn",
            "redis KB/conn",
            "host busy %",
            "other CPU%",
        ],
        body,
    )


def connect_phase(r: Row) -> float | None:
    return r.get("connect_phase_s")


def p99(r: Row) -> float | None:
    return (r.get("latency_ms") or {}).get("p99")


def cpu_per_1k(r: Row) -> float | None:
    return r.get("cpu_ms_per_1k_deliveries")


def kb_per_conn(r: Row) -> float | None:
    return (r.get("server") or {}).get("kb_per_conn")


def host_busy(r: Row) -> float | None:
    return r.get("host_cpu_busy_pct")


def targets_table(rows: list[Row], ref: str, vs: str) -> str:
    """The issue's targets, each a ratio ref / vs of the two medians from the same run."""
    checks: list[tuple[int | str, list[str]]] = []

    def of(nb: int, na: int) -> int | str:
        """How many repeats the two medians are of: one number, or vs's/ref's where they differ."""
        return na if nb == na or not nb or not na else f"{nb}/{na}"

    def medians(sc: str, get: Callable[[Row], float | None]) -> tuple[float | None, float | None, int | str]:
        """vs's median, ref's median, and how many repeats they are of."""
        b, a = (repeats(rows, sc, p) for p in (vs, ref))
        return median([get(r) for r in b]), median([get(r) for r in a]), of(len(b), len(a))

    def busy(sc: str) -> str:
        return " / ".join(num(median([host_busy(r) for r in repeats(rows, sc, p)])) for p in (vs, ref))

    def ratio_row(
        name: str, sc: str, get: Callable[[Row], float | None], fmt: Callable[[float | None], str], limit: float
    ) -> None:
        b, a, n = medians(sc, get)
        if a is None or b is None:
            r, verdict = "-", f"n/a: no {sc} figure for {vs if b is None else ref}"
        elif not b:
            r, verdict = "-", f"n/a: {vs}'s figure is 0"
        else:
            r, verdict = f"{a / b:.2f}x", "met" if round(a / b, 2) <= limit else "NOT met"
        checks.append((n, [name, fmt(b), fmt(a), r, f"<= {limit}x", busy(sc), verdict]))

    ratio_row("idle: connect phase s", "idle", connect_phase, lambda x: num(x, 2), 1.5)
    ratio_row("storm: connect phase s", "storm", connect_phase, lambda x: num(x, 2), 1.5)

    # Absolute, not a ratio; and loss must be zero in every repeat, not only in the median one.
    b, a, n = medians("storm", p99)
    lost_b, lost_a = ([r.get("lost") for r in repeats(rows, "storm", p)] for p in (vs, ref))
    if a is None:
        verdict = f"n/a: no storm figure for {ref}"
    else:
        verdict = "met" if a <= SLO_MS and all(x == 0 for x in lost_a) else "NOT met"
    checks.append(
        (
            n,
            [
                "storm: delivery p99 ms, zero loss in every repeat",
                f"{ms(b)}, lost {'/'.join(count(x) for x in lost_b) or '-'}",
                f"{ms(a)}, lost {'/'.join(count(x) for x in lost_a) or '-'}",
                f"{a / b:.2f}x" if a is not None and b else "-",
                f"<= {SLO_MS} ms, lost 0",
                busy("storm"),
                verdict,
            ],
        )
    )

    # Per repeat the highest passing step, then the median of its deliveries/s over the repeats.
    best_b, best_a = ([best_passing(run) for run in step_repeats(rows, p)] for p in (vs, ref))
    b, a = best_rate_deliveries(best_b), best_rate_deliveries(best_a)
    if a is None or b is None:
        r, verdict = "-", f"n/a: no saturate steps for {vs if b is None else ref}"
    elif not b:
        r, verdict = "-", f"n/a: {vs} passed no step"
    else:
        r, verdict = f"{a / b:.2f}x", "met" if round(a / b, 2) >= 0.75 else "NOT met"
    at_best = " / ".join(num(median([host_busy(s) for s in best if s])) for best in (best_b, best_a))
    checks.append(
        (
            of(len(best_b), len(best_a)),
            [
                "saturate: deliveries/s at the highest passing step",
                num(b),
                num(a),
                r,
                ">= 0.75x",
                f"{at_best} (at that step)",
                verdict,
            ],
        )
    )

    ratio_row("bigroom: delivery p99 ms", "bigroom", p99, ms, 1.0)
    ratio_row("bigroom: CPU ms per 1k deliveries (server + Redis)", "bigroom", cpu_per_1k, num, 1.0)
    ratio_row("idle: KB per connection", "idle", kb_per_conn, lambda x: num(x, 1), 1.25)

    return section(
        "targets",
        f"same run; ratio = {ref} / {vs}; host busy % and a split n are {vs} / {ref}",
        ["figure", vs, ref, "ratio", "target", "host busy %", "verdict"],
        checks,
    )


def report(rows: list[Row], ref: str, vs: str) -> str:
    peers = list(dict.fromkeys(r["label"] for r in rows))
    out = [fanout_table(rows, peers, sc) for sc in ("rooms", "bigroom", "storm")]
    out.append(saturate_table(rows, peers))
    out.append(idle_table(rows, peers))
    out.append(targets_table(rows, ref, vs))
    failed = errors(rows)
    if failed:
        out.append("Not measured (left out of the medians): " + "; ".join(failed) + ".")
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--ref", default="ours", help="the peer under test (numerator of the ratios)")
    parser.add_argument("--vs", default="socketio", help="the peer the targets compare with (denominator)")
    parser.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = parser.parse_args()
    text = report(load(args.results), args.ref, args.vs)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
