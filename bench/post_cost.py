"""CPU of one post's database work: the rights read, the insert, the whole store, both ways a worker runs it.

    .venv/bin/python bench/post_cost.py [N]

Runs against BENCH_DATABASE_URL (default: the benchmark's own PostgreSQL database, chat_bench, as
bench/peer/worker.sh uses it), migrated first, in a room of its own (`bench-post-cost`). Prints
per call the process CPU (user + system: psycopg, Django, the syscalls), PostgreSQL's (every
backend of that database, from /proc, so PostgreSQL must run on this host and nothing else use the
database meanwhile), and the wall time. The last two lines are a post as a worker's event loop
makes it: through chat.db's threads (CHAT_ASYNC_DB=0), and on the loop (chat.asyncdb). No load: what
each costs at best, not under contention.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chat_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret-7f3a9c")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from chat import asyncdb, db, rights, services  # noqa: E402
from chat.identity import Identity  # noqa: E402
from chat.models import Message, Room  # noqa: E402


def backends_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL backends serving this database."""
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        pids = [pid for (pid,) in conn.execute(sql).fetchall()]
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def clock(label: str, call: Callable[[], object], count: int) -> None:
    call()
    cpu, pg, wall = time.process_time(), backends_cpu(), time.perf_counter()
    for _ in range(count):
        call()
    cpu, pg, wall = time.process_time() - cpu, backends_cpu() - pg, time.perf_counter() - wall
    per = [f"{seconds / count * 1e6:7.1f} us" for seconds in (cpu, pg, wall)]
    print(f"{label:24s} cpu {per[0]}   postgres {per[1]}   wall {per[2]}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    call_command("migrate", verbosity=0)
    room, _ = Room.objects.get_or_create(slug="bench-post-cost", defaults={"name": "bench post cost"})
    who = Identity(key="g:bench-post-cost", name="bench", guest=True)

    def message() -> Message:
        return Message(
            room_id=room.pk, author_key=who.key, author_name=who.name, author_guest=True, body="hello there",
            client_id=None, sent_at=timezone.now(),
        )  # fmt: skip

    print(f"{count} calls each on {os.environ['DATABASE_URL']}")
    clock("rights_get", lambda: rights.rights_get(room_id=room.pk, who=who), count)
    clock("_insert_with_next_seq", lambda: services._insert_with_next_seq(message()), count)
    post = lambda: services.message_create(room_id=room.pk, author=who, body="hello there", client_id=None)  # noqa: E731
    clock("message_create", post, count)

    loop = asyncio.new_event_loop()
    run = functools.partial(db.run, services.message_create, room_id=room.pk, author=who, body="hello there")
    clock("a post via chat.db", lambda: loop.run_until_complete(run(client_id=None)), count)
    create = functools.partial(asyncdb.message_create, room_id=room.pk, author=who, body="hello there")
    clock("a post via chat.asyncdb", lambda: loop.run_until_complete(create(client_id=None)), count)
    asyncdb.close()
    loop.close()


if __name__ == "__main__":
    main()
