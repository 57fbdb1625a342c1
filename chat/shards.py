"""Which Redis holds what: the list of Redis shards (REDIS_URL) and the rule that maps a key to one.

REDIS_URL names one Redis or several, comma-separated. Each is a server as redis-py reads it
(`redis://`, `rediss://`, `unix://`) or a master found through Redis Sentinel:
`redis+sentinel://[[user]:password@]host:port,host:port,.../master_name[/db]` (the password is the
master's). A comma starts the next shard only where a `scheme://` follows it, so a sentinel list
keeps its own commas.

What is placed by which key: a room (its pub/sub group, presence and typing keys) by its slug, a
person (their rate-limit budgets) by their identity key, a worker (messages `send` to one of its
channels) by its id.

The rule is rendezvous hashing (highest random weight): every shard scores the key, blake2b-64 of
"<shard name>\\n<key>", and the highest score wins. channels-redis cuts crc32(key) into equal slices
of the list instead, so one server more or less shifts every slice and moves most keys. Here
removing a shard moves exactly the keys it held (spread over the others) and adding one moves
about 1/n of them, all onto the new shard. A shard scores under its name (host:port/db, or the
Sentinel master's name and db), never its place in the list or its password: reordering the list,
or changing a password, moves nothing. `python -m chat.shards` shows where keys live and what a new
list would move.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
# "scheme://" right after a comma (or at the start) begins a shard; any other comma is inside one.
_SHARD_START = re.compile(r"(?:^|,)\s*(?=[a-z][a-z0-9+.-]*://)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Shard:
    """One Redis: a server's URL, or a Sentinel master; `name` is what it is hashed and logged under."""

    url: str = field(repr=False)  # may hold a password
    name: str
    master: str = ""
    sentinels: tuple[tuple[str, int], ...] = ()
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def split_urls(value: str) -> list[str]:
    """The shard URLs in a REDIS_URL value, in order."""
    value = value.strip()
    found = list(_SHARD_START.finditer(value))
    if not found or found[0].start() != 0:
        raise ValueError(f"REDIS_URL {_redact(value)!r}: expected scheme://... URLs separated by commas")
    ends = [m.start() for m in found[1:]] + [len(value)]
    return [value[m.end() : end].strip() for m, end in zip(found, ends, strict=True)]


def parse_shard(url: str) -> Shard:
    """Read one shard's URL (ValueError if it is not exactly one supported Redis address)."""
    urls = split_urls(url)
    if len(urls) != 1:
        raise ValueError(f"{_redact(url)!r} names {len(urls)} Redis servers, not one")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    query = parse_qs(parts.query)
    if scheme == SENTINEL_SCHEME:
        return _parse_sentinel(url.strip())
    if scheme in ("redis", "rediss"):
        db = _db(query, parts.path, url)
        host = parts.hostname or "localhost"
        return Shard(url=url.strip(), name=f"{host}:{parts.port or 6379}/{db}", db=db)
    if scheme == "unix":
        db = _db(query, "", url)
        return Shard(url=url.strip(), name=f"unix:{unquote(parts.path)}/{db}", db=db)
    raise ValueError(f"{_redact(url)!r}: a Redis URL is redis://, rediss://, unix:// or {SENTINEL_SCHEME}://")


def _parse_sentinel(url: str) -> Shard:
    rest = url.split("://", 1)[1]
    location, _, path = rest.partition("/")
    userinfo, _, hosts = location.rpartition("@")
    username, _, password = userinfo.partition(":")
    master, _, db_part = path.partition("/")
    if not master or not hosts:
        raise ValueError(f"{_redact(url)!r}: expected {SENTINEL_SCHEME}://host:port,host:port/master_name[/db]")
    db = _db({}, db_part, url)
    sentinels = tuple(_host_port(item, url) for item in hosts.split(","))
    return Shard(
        url=url,
        name=f"sentinel:{unquote(master)}/{db}",
        master=unquote(master),
        sentinels=sentinels,
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def _host_port(item: str, url: str) -> tuple[str, int]:
    host, colon, port = item.strip().rpartition(":")
    if not colon:
        host, port = item.strip(), str(SENTINEL_PORT)
    host = host.strip("[]")  # an IPv6 address is written [::1]:26379
    if not host or not port.isdigit():
        raise ValueError(f"{_redact(url)!r}: sentinel {item!r} is not host:port")
    return host, int(port)


def _db(query: dict[str, list[str]], path: str, url: str) -> int:
    raw = query.get("db", [path.strip("/") or "0"])[0]
    if not raw.isdigit():
        raise ValueError(f"{_redact(url)!r}: the database number {raw!r} is not a number")
    return int(raw)


def _redact(value: str) -> str:
    """The value with passwords blanked, fit for an error message."""
    return re.sub(r"(://[^:/@,]*:)[^@,]*@", r"\1***@", value)


class Ring:
    """The shards of one REDIS_URL and the key -> shard rule (see the module's docstring)."""

    def __init__(self, shards: Sequence[Shard]) -> None:
        if not shards:
            raise ValueError("no Redis shard")
        names = [shard.name for shard in shards]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"the same Redis is listed more than once: {', '.join(twice)}")
        self.shards = tuple(shards)
        self._seeds = [f"{name}\n".encode() for name in names]

    def __len__(self) -> int:
        return len(self.shards)

    def index(self, key: str) -> int:
        """The position, in the list, of the shard that holds `key`."""
        if len(self._seeds) == 1:
            return 0
        data = key.encode()
        scores = [hashlib.blake2b(seed + data, digest_size=8).digest() for seed in self._seeds]
        return scores.index(max(scores))

    def shard(self, key: str) -> Shard:
        """The shard that holds `key`."""
        return self.shards[self.index(key)]


def ring(value: str) -> Ring:
    """The shards a REDIS_URL value names."""
    return Ring([parse_shard(url) for url in split_urls(value)])


def group_key(group: str) -> str:
    """The key that places a group: what follows its kind ("room.lobby" -> "lobby", see chat.broadcast)."""
    _, dot, key = group.partition(".")
    return key if dot else group


def channels_redis_hosts(value: str) -> list[dict[str, Any]]:
    """The same shards in channels-redis's `hosts` format (it spreads groups over them its own way)."""
    hosts: list[dict[str, Any]] = []
    for shard in ring(value).shards:
        if not shard.master:
            hosts.append({"address": shard.url})
            continue
        host: dict[str, Any] = {"master_name": shard.master, "sentinels": list(shard.sentinels), "db": shard.db}
        if shard.password:
            host.update(username=shard.username, password=shard.password)
        hosts.append(host)
    return hosts


def main(argv: Sequence[str] | None = None) -> int:
    """Print the shard of each key; with --to, the shard under a new list and whether the key moves."""
    parser = argparse.ArgumentParser(
        prog="python -m chat.shards", description="Which Redis shard holds each room slug (or person key)."
    )
    parser.add_argument("redis_url", help="the REDIS_URL value in use")
    parser.add_argument("keys", nargs="+", help="room slugs, or identity keys such as u:42")
    parser.add_argument("--to", metavar="NEW_REDIS_URL", help="a new list: show what would move")
    args = parser.parse_args(argv)
    now = ring(args.redis_url)
    new = ring(args.to) if args.to else None
    moving = 0
    for key in args.keys:
        where = now.shard(key).name
        if new is None:
            print(f"{key}\t{where}")
            continue
        there = new.shard(key).name
        moving += where != there
        print(f"{key}\t{where}" + (f"\t-> {there}" if where != there else "\tstays"))
    if new is not None:
        print(f"{moving} of {len(args.keys)} move")
    return 0


if __name__ == "__main__":
    sys.exit(main())
