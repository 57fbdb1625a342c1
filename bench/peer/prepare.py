"""Make the benchmark deployment ready: database, schema, empty rooms, clean Redis namespace.

Run by start.sh with the worker environment (worker.sh) from the project root:
    prepare.py --prefix bench- --rooms 20 --warm 2
"""

from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
import redis

# start.sh runs this from the app's root (the working tree, or a snapshot of a commit)
sys.path.insert(0, os.getcwd())


def database_ensure(url: str) -> None:
    """Create the database named in `url` if it does not exist (connecting to 'postgres')."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"prepare: created database {name}", file=sys.stderr)


def redis_namespace_clear(url: str, prefix: str) -> int:
    """Delete our keys (presence) left by earlier runs; never anything outside `prefix:`."""
    client = redis.Redis.from_url(url)
    deleted = 0
    batch = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    client.close()
    return deleted


def rooms_reset(slugs: list[str]) -> None:
    """Create the rooms that are missing and empty all of them, so every run starts at seq 1."""
    from chat.models import Message, Room

    Room.objects.bulk_create([Room(slug=s, name=f"Bench {s}") for s in slugs], ignore_conflicts=True)
    Message.objects.filter(room__slug__in=slugs).delete()
    Room.objects.filter(slug__in=slugs).update(last_seq=0, archived=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, help="room slug prefix, e.g. bench-")
    parser.add_argument("--rooms", type=int, required=True)
    parser.add_argument("--warm", type=int, default=0, help="number of <prefix>warmK rooms (idle mode)")
    args = parser.parse_args()

    slugs = [f"{args.prefix}r{i}" for i in range(args.rooms)] + [f"{args.prefix}warm{k}" for k in range(args.warm)]

    database_ensure(os.environ["DATABASE_URL"])
    django.setup()
    from django.core.management import call_command

    from chat.models import slug_validator

    for slug in slugs:
        slug_validator(slug)
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    rooms_reset(slugs)
    deleted = redis_namespace_clear(os.environ["REDIS_URL"], os.environ["CHAT_LAYER_PREFIX"])
    print(f"prepare: {len(slugs)} rooms ready ({slugs[0]}..), {deleted} stale redis keys removed", file=sys.stderr)


if __name__ == "__main__":
    main()
