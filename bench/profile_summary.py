"""Where a worker's time goes, from py-spy's collapsed stacks (bench/profile.sh writes them).

    profile_summary.py RESULTS_DIR    # reads <port>.txt, cpu.txt and loadgen.jsonl there

Samples exclude idle time, so shares are of the time the worker's threads were running. The
per-delivery figures divide the worker's CPU while it was sampled by its share of the deliveries
(the load generator spreads every room's members evenly over the workers).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

# Buckets, first match wins; a stack matches when one of its frames' function names matches.
BUCKETS: list[tuple[str, re.Pattern[str] | None, str]] = [
    ("store a message (DB thread: transaction, INSERT)", re.compile(r"^message_create\b"), "any"),
    ("other DB-thread work (close_old_connections per dispatch, reads, sync_to_async)", None, "thread"),
    (
        "fan-out: layer -> consumer.room_frame -> daphne/autobahn/twisted send",
        re.compile(r"^(LocalFanout\._deliver_group|RoomConsumer\.room_frame)\b"),
        "any",
    ),
    ("redis pub/sub: read + parse", re.compile(r"^(RedisFanoutChannelLayer\.(_read|_on_message)|PubSub\.)"), "any"),
    ("inbound frames: receive, parse, post, publish", re.compile(r"^RoomConsumer\.(websocket_receive|_post)\b"), "any"),
    (
        "connect/join/leave, presence, heartbeat",
        re.compile(r"^(RoomConsumer\.(websocket_connect|websocket_disconnect|_replay)|Heartbeat\.)"),
        "any",
    ),
    ("twisted + daphne/autobahn (I/O, framing, ASGI queues)", re.compile(r"\((twisted|autobahn|daphne)/"), "file"),
    ("event loop wait (epoll)", re.compile(r"^EpollSelector\.select\b"), "leaf"),
    ("asyncio loop plumbing", re.compile(r"\(asyncio/"), "file"),
]


def _frame_name(frame: str) -> str:
    """ "f (/x/site-packages/twisted/python/util.py:9)" -> "f (twisted/python/util.py)": lines differ."""
    m = re.match(r"^(.*) \((.*?)(?::\d+)?\)$", frame)
    if m is None:
        return frame
    name, path = m.groups()
    path = re.sub(r"^.*/(site-packages|python3\.\d+)/", "", path)
    path = re.sub(r"^/.*/(chat|chatsite)/", r"\1/", path)
    return f"{name} ({path})"


def _package(frame: str) -> str:
    """Who the innermost frame belongs to: "twisted", "autobahn", "chat", "asyncio", ..."""
    if frame.startswith("untilConcludes "):
        return "send()/recv() syscalls (twisted untilConcludes)"
    if frame.startswith(("_PollLikeSelector.modify", "EpollSelector.select")):
        return "selectors: epoll_ctl per write / epoll_wait"
    path = frame.rpartition(" (")[2].rstrip(")")
    return path.split("/")[0] if "/" in path else path.removesuffix(".py")


def parse(path: Path) -> list[tuple[str, list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        body, _, count = line.rpartition(" ")
        thread, *frames = body.split(";")
        names = [_frame_name(f) for f in frames]
        stacks.append((thread, names, int(count)))
    return stacks


def bucket(thread: str, frames: list[str]) -> str:
    for label, pattern, how in BUCKETS:
        if pattern is None:  # the "thread" rule
            if not thread.endswith("MainThread"):
                return label
        elif how in ("file", "leaf"):
            if frames and pattern.search(frames[-1]):
                return label
        elif how == "any" and any(pattern.match(f) for f in frames):
            return label
    return "other"


def main() -> None:
    root = Path(sys.argv[1])
    record = [json.loads(line) for line in (root / "loadgen.jsonl").read_text().splitlines() if line.strip()][-1]
    workers = record["config"]["workers"]
    cpu = {}
    for line in (root / "cpu.txt").read_text().splitlines():
        _pid, port, secs, ticks = line.split()
        cpu[port] = (float(secs), int(ticks) / 100)
    print(
        f"scenario {record['scenario']}: {record['delivered_per_s']:.0f} deliveries/s over {workers} workers, "
        f"p99 {record['latency_ms']['p99']} ms, srv CPU {record['server']['cpu_pct']}% of a core"
    )
    for path in sorted(root.glob("[0-9]*.txt")):
        port = path.stem
        stacks = parse(path)
        total = sum(n for _, _, n in stacks)
        secs, cpu_s = cpu.get(port, (0.0, 0.0))
        per_worker = record["delivered_per_s"] / workers * secs
        us = 1e6 * cpu_s / per_worker if per_worker else 0.0
        print(
            f"\n== worker :{port}: {total} samples; CPU {cpu_s:.1f} s in {secs:.0f} s "
            f"({100 * cpu_s / secs:.0f}% of a core) = "
            + (f"{us:.0f} us per delivery" if us else "no deliveries in the window: us per delivery undefined")
        )
        threads = Counter()
        for thread, _, n in stacks:
            threads["event loop (MainThread)" if "MainThread" in thread else "other threads (DB: sync_to_async)"] += n
        for name, n in threads.most_common():
            print(f"  {100 * n / total:5.1f}%  {name}")
        print("  -- by activity (first match; us/delivery = share x CPU per delivery)")
        buckets = Counter()
        for thread, frames, n in stacks:
            buckets[bucket(thread, frames)] += n
        for name, n in buckets.most_common():
            print(f"  {100 * n / total:5.1f}%  {us * n / total:6.1f} us  {name}")
        print("  -- self time by package of the innermost frame (syscalls count where they are made)")
        packages = Counter()
        for _, frames, n in stacks:
            packages[_package(frames[-1]) if frames else "?"] += n
        for name, n in packages.most_common(12):
            print(f"  {100 * n / total:5.1f}%  {us * n / total:6.1f} us  {name}")
        self_time, inclusive = Counter(), Counter()
        for _, frames, n in stacks:
            if frames:
                self_time[frames[-1]] += n
            for f in set(frames):
                inclusive[f] += n
        print("  -- top functions, self time")
        for name, n in self_time.most_common(15):
            print(f"  {100 * n / total:5.1f}%  {name}")
        print("  -- top functions, inclusive (skipping the loop's own frames)")
        boring = re.compile(
            r"^(Thread\.|_worker|_WorkItem|_run_module|_run_code|<module>|main |run |Runner|"
            r"BaseEventLoop\.(run_forever|_run_once|run_until_complete)|Handle\._run|Server\.run|"
            r"CommandLineInterface|ReactorBase|_SignalReactorMixin|EPollReactor\.doPoll|asyncioreactor)"
        )
        shown = 0
        for name, n in inclusive.most_common():
            if boring.match(name) or n == total:
                continue
            print(f"  {100 * n / total:5.1f}%  {name}")
            shown += 1
            if shown == 25:
                break


if __name__ == "__main__":
    main()
