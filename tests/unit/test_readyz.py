"""/readyz: whether a load balancer should send this worker new clients; /healthz stays liveness."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from django.db import OperationalError
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError

from chat import views
from chat import worker as worker_module
from chat.worker import worker

pytestmark = pytest.mark.django_db


def test_a_serving_worker_is_ready(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert orjson.loads(response.content) == {"status": "ok", "database": "ok", "worker": "ok"}


def test_a_draining_worker_is_not_ready_but_still_alive(client: Client) -> None:
    worker().closing = True  # what SIGTERM sets as the graceful shutdown begins (Worker.close_all)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert orjson.loads(response.content) == {"status": "unavailable", "database": "ok", "worker": "draining"}
    # Liveness is another question: a draining worker must not be killed for being unready.
    assert client.get("/healthz").status_code == 200


def test_a_worker_whose_redis_is_down_is_not_ready(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DownPresence:
        def ping(self) -> None:
            raise RedisConnectionError("refused")

    monkeypatch.setattr(views, "presence", lambda: DownPresence())
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = orjson.loads(response.content)
    assert (body["status"], body["redis"], body["worker"]) == ("unavailable", "error: ConnectionError", "ok")


def test_a_worker_whose_database_is_down_is_not_ready(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    class DownCursor:
        def __enter__(self) -> DownCursor:
            raise OperationalError("connection refused")

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(views.connection, "cursor", DownCursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = orjson.loads(response.content)
    assert (body["status"], body["database"]) == ("unavailable", "error: OperationalError")


async def test_a_worker_draining_first_says_not_ready_then_asks_its_clients_to_go(settings: Any) -> None:
    settings.CHAT_DRAIN_SECONDS = 0.3
    drained = worker_module.Worker(interval=60)
    closed_at: list[float] = []

    class Client:
        channel_name = "specific.x!1"

        async def close(self, code: int) -> None:
            closed_at.append(time.monotonic())

    drained.rooms["lobby"] = {"specific.x!1": Client()}  # type: ignore[dict-item]
    started = time.monotonic()
    closing = asyncio.create_task(drained.close_all())
    await asyncio.sleep(0.1)
    assert drained.closing and closed_at == []  # /readyz answers 503 while its clients stay
    await closing
    assert len(closed_at) == 1 and closed_at[0] - started >= 0.3
