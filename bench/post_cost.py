"""CPU of one post's database work in this process: the rights read, the insert, the whole store.

    .venv/bin/python bench/post_cost.py [N]

Runs against BENCH_DATABASE_URL (default: the benchmark's own PostgreSQL database, chat_bench, as
bench/peer/worker.sh uses it), migrated first, in a room of its own (`bench-post-cost`). Prints
the process CPU (user + system: psycopg, Django, the syscalls; not PostgreSQL's) per call, and the
wall time, which includes PostgreSQL's share and the round trips. No load, one thread: what each
call costs at best, not under contention.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chat_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret-7f3a9c")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from chat import rights, services  # noqa: E402
from chat.identity import Identity  # noqa: E402
from chat.models import Message, Room  # noqa: E402


def clock(label: str, call: Callable[[], object], count: int) -> None:
    call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        call()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:24s} cpu {cpu / count * 1e6:7.1f} us   wall {wall / count * 1e6:7.1f} us")


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


if __name__ == "__main__":
    main()
