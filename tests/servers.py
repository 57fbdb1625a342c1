"""Real deployments for tests: daphne worker processes on free ports, their own database and Redis.

Every process a test starts is stopped by PID; Redis data is confined to one database number and a
prefix unique to the run, and only keys under that prefix are ever deleted.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chat import redisconn, shards

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
ASGI_APP = "chatsite.asgi:application"
# For sites whose clients send faster than a person (tests/client.py also asks for every seq gap at
# once): the budgets and the inbound frame cap are tested elsewhere, and must not cut these clients off.
FAST_CLIENTS = {
    "CHAT_RATE_LIMIT": "100000/1",
    "CHAT_HISTORY_RATE_LIMIT": "100000/1",
    "CHAT_INBOUND_FRAME_LIMIT": "100000/1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process on port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


@dataclass
class Worker:
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chat.serve", "-b", "127.0.0.1", "-p", str(self.port), ASGI_APP],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, slug: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/rooms/{slug}/" + (f"?{query}" if query else "")


@dataclass
class Site:
    """One deployment: a database, a Redis namespace and any number of daphne workers."""

    env: dict[str, str]
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    def add_worker(self, port: int | None = None) -> Worker:
        port = port or free_port()
        worker = Worker(port=port, env=self.env, log=self.tmp / f"daphne-{port}.log").start()
        self.workers.append(worker)
        return worker

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def shell(self, code: str) -> str:
        """Run Django code against this site's database (e.g. to create a room)."""
        return self.manage("shell", "-c", code)

    def logs(self) -> str:
        return "\n".join(w.log.read_text(errors="replace") for w in self.workers if w.log.exists())

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def _is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def _server_url(name: str) -> str:
    return os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"


def _admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(_server_url("postgres"), autocommit=True) as conn:
        conn.execute(sql)


@dataclass(frozen=True)
class _Template:
    database: str  # a SQLite file, or a PostgreSQL database name
    static_root: Path


_template: _Template | None = None


def _prepared() -> _Template:
    """One migrated database and one collected static root per test run: each site starts from copies.

    Migrating and collecting took seconds per site, for every module of every pass; the result is
    the same each time. Removed (the PostgreSQL template dropped) when the run ends.
    """
    global _template
    if _template is not None:
        return _template
    work = Path(tempfile.mkdtemp(prefix="chat-template-"))
    atexit.register(shutil.rmtree, work, True)
    if _is_postgres():
        database = f"chat_template_{uuid.uuid4().hex[:10]}"
        _admin_execute(f'CREATE DATABASE "{database}"')
        atexit.register(_drop_database, database)
        url = _server_url(database)
    else:
        database = str(work / "template.sqlite3")
        url = f"sqlite:///{database}"
    prepare = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_", "REDIS_", "CHAT_"))},
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DJANGO_SECRET_KEY": "test-secret-key",
        "DJANGO_DEBUG": "0",
        "CHAT_SINGLE_PROCESS": "1",
        "DATABASE_URL": url,
        "DJANGO_STATIC_ROOT": str(work / "static"),
    }
    for args in (("migrate", "-v0"), ("collectstatic", "--noinput", "-v0")):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=prepare, capture_output=True, check=True)
    _template = _Template(database=database, static_root=work / "static")
    return _template


def _database_url(tmp: Path, template: _Template) -> tuple[str, str | None]:
    """A fresh, migrated database for the site, like the suite's own: PostgreSQL if DATABASE_URL says so."""
    if _is_postgres():
        name = f"chat_site_{uuid.uuid4().hex[:10]}"
        _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
        return _server_url(name), name
    shutil.copyfile(template.database, tmp / "site.sqlite3")
    return f"sqlite:///{tmp / 'site.sqlite3'}", None


def _drop_database(name: str) -> None:
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_prefix(redis_url: str, prefix: str) -> None:
    """Delete the keys under `prefix` on every shard that `redis_url` (a REDIS_URL value) names."""
    for url in shards.split_urls(redis_url):
        client = redisconn.sync_client(url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


@contextlib.contextmanager
def site(redis_url: str | None = REDIS_URL, **extra_env: str) -> Iterator[Site]:
    """A migrated deployment; workers are added by the test and all stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="chat-site-") as tmpdir:
        tmp = Path(tmpdir)
        prefix = f"t{uuid.uuid4().hex[:10]}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "DJANGO_SECRET_KEY": "test-secret-key",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_LOG_LEVEL": "INFO",
            "CHAT_LAYER_PREFIX": prefix,
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        env.pop("REDIS_URL", None)
        # The shell's Sentinel settings would clash with redis_url (a test may set them on Site.env).
        env.pop("REDIS_SENTINELS", None)
        env.pop("REDIS_SENTINEL_MASTER", None)
        env.pop("CHAT_SINGLE_PROCESS", None)
        env.pop("CHAT_CHANNEL_LAYER", None)
        if redis_url:
            env["REDIS_URL"] = redis_url
            # The suite's own process has no Redis: the layer its workers use is chosen apart.
            env["CHAT_CHANNEL_LAYER"] = os.environ.get("CHAT_TEST_CHANNEL_LAYER") or "fanout"
        else:
            env["CHAT_SINGLE_PROCESS"] = "1"  # a production-mode worker without Redis refuses to start otherwise
        template = _prepared()
        env["DJANGO_STATIC_ROOT"] = str(template.static_root)  # read only, the same for every site
        env["DATABASE_URL"], pg_name = _database_url(tmp, template)
        deployment = Site(env=env, tmp=tmp)
        try:
            yield deployment
        finally:
            deployment.stop()
            if redis_url:
                delete_prefix(redis_url, prefix)
            if pg_name:
                _drop_database(pg_name)


def get_json(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
