"""/metrics: off unless enabled, then only for allowed scrapers; what it serves and what feeds it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from chat import db, metrics, ratelimit
from chat.protocol import Close

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-scrape-token"

# Every metric the site defines, as Prometheus names the families.
CHAT_FAMILIES = {
    "chat_connections_open",
    "chat_joins",
    "chat_leaves",
    "chat_messages_stored",
    "chat_messages_delivered",
    "chat_broadcast_latency_seconds",
    "chat_frames_refused",
    "chat_closes",
    "chat_rate_limited",
    "chat_redis_errors",
    "chat_redis_reconnects",
    "chat_db_pool_wait_seconds",
}


@pytest.fixture
def enabled(settings: Any) -> Any:
    settings.CHAT_METRICS = True
    settings.CHAT_METRICS_TOKEN = ""
    settings.CHAT_METRICS_ALLOWED_ADDRESSES = ["127.0.0.1", "::1"]
    return settings


def scrape(client: Client, remote_addr: str = "127.0.0.1", **headers: str) -> Any:
    return client.get("/metrics", REMOTE_ADDR=remote_addr, headers=headers)


# -- Off ----------------------------------------------------------------------------------------


def test_metrics_are_not_found_while_off(client: Client, settings: Any) -> None:
    settings.CHAT_METRICS = False
    assert scrape(client).status_code == 404
    # Not even another method gives away that the page exists.
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_metrics_are_off_by_default(settings: Any) -> None:
    assert settings.CHAT_METRICS is False


# -- What it serves -----------------------------------------------------------------------------


def test_a_scraper_on_this_host_gets_every_chat_metric_in_prometheus_text_format(client: Client, enabled: Any) -> None:
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    assert set(families) >= CHAT_FAMILIES
    assert families["chat_connections_open"].type == "gauge"
    assert families["chat_broadcast_latency_seconds"].type == "histogram"
    assert families["chat_messages_delivered"].type == "counter"
    # Labelled series exist before anything happened, so rate() over them works from the start.
    refused = {sample.labels["code"] for sample in families["chat_frames_refused"].samples}
    assert set(metrics.ERROR_CODES) <= refused


def test_the_metrics_are_never_cached(client: Client, enabled: Any) -> None:
    assert "no-store" in scrape(client)["Cache-Control"]
    assert "no-store" in scrape(client, remote_addr="203.0.113.9")["Cache-Control"]


def test_other_methods_than_get_are_not_allowed(client: Client, enabled: Any) -> None:
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


def test_a_scrape_over_plain_http_is_not_redirected_to_https(client: Client, enabled: Any) -> None:
    # Each worker's own port speaks plain http; a 301 would send Prometheus to the load balancer.
    enabled.SECURE_SSL_REDIRECT = True
    assert client.get("/", REMOTE_ADDR="127.0.0.1").status_code == 301
    assert scrape(client).status_code == 200


# -- Addresses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_this_host_may_scrape_by_default(client: Client, enabled: Any, address: str) -> None:
    assert scrape(client, remote_addr=address).status_code == 200


@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.1", "2001:db8::1", "", "not-an-address"])
def test_other_addresses_are_refused_by_default(client: Client, enabled: Any, address: str) -> None:
    assert scrape(client, remote_addr=address).status_code == 403


def test_an_allowed_network_admits_its_addresses_and_no_others(client: Client, enabled: Any) -> None:
    enabled.CHAT_METRICS_ALLOWED_ADDRESSES = ["10.0.0.0/8", "192.0.2.7"]
    assert scrape(client, remote_addr="10.20.30.40").status_code == 200
    assert scrape(client, remote_addr="192.0.2.7").status_code == 200
    assert scrape(client, remote_addr="192.0.2.8").status_code == 403
    assert scrape(client, remote_addr="127.0.0.1").status_code == 403  # the list replaces the default


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_a_request_that_came_through_a_proxy_is_refused_even_from_this_host(
    client: Client, enabled: Any, header: str
) -> None:
    # Behind nginx on the same host every visitor's request arrives from 127.0.0.1.
    assert scrape(client, **{header: "203.0.113.9"}).status_code == 403


# -- Token --------------------------------------------------------------------------------------


def test_with_a_token_the_right_bearer_token_is_let_in(client: Client, enabled: Any) -> None:
    enabled.CHAT_METRICS_TOKEN = TOKEN
    assert scrape(client, Authorization=f"Bearer {TOKEN}").status_code == 200
    assert scrape(client, Authorization=f"bearer {TOKEN}").status_code == 200  # the scheme ignores case


@pytest.mark.parametrize(
    "authorization", [None, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN]
)
def test_with_a_token_a_missing_or_wrong_one_is_refused(
    client: Client, enabled: Any, authorization: str | None
) -> None:
    enabled.CHAT_METRICS_TOKEN = TOKEN
    headers = {} if authorization is None else {"Authorization": authorization}
    assert scrape(client, **headers).status_code == 403


def test_the_right_token_does_not_open_an_address_that_is_not_allowed(client: Client, enabled: Any) -> None:
    enabled.CHAT_METRICS_TOKEN = TOKEN
    assert scrape(client, remote_addr="203.0.113.9", Authorization=f"Bearer {TOKEN}").status_code == 403
    enabled.CHAT_METRICS_ALLOWED_ADDRESSES = ["0.0.0.0/0", "::/0"]  # any address: the token alone decides
    assert scrape(client, remote_addr="203.0.113.9", Authorization=f"Bearer {TOKEN}").status_code == 200
    assert scrape(client, remote_addr="203.0.113.9").status_code == 403


# -- Settings -----------------------------------------------------------------------------------


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_METRICS", "PYTEST"))}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "chatsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_worker_with_metrics_on_and_the_default_addresses_starts() -> None:
    assert start({"CHAT_METRICS": "1"}).returncode == 0


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"CHAT_METRICS_ALLOWED_ADDRESSES": "10.0.0.0/8,10.0.0.300"}, "CHAT_METRICS_ALLOWED_ADDRESSES"),
        ({"CHAT_METRICS": "1", "CHAT_METRICS_ALLOWED_ADDRESSES": ""}, "nobody could scrape"),
    ],
)
def test_a_worker_with_unusable_metrics_addresses_refuses_to_start(env: dict[str, str], says: str) -> None:
    result = start(env)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and says in result.stderr


# -- The lists the metrics are labelled by ------------------------------------------------------


def test_every_documented_error_code_has_its_series() -> None:
    protocol_md = (ROOT / "docs" / "protocol.md").read_text()
    table = protocol_md.split("### Error codes", 1)[1].split("\n\n", 2)[1]
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    assert documented and sorted(documented) == sorted(metrics.ERROR_CODES)


def test_every_budget_has_its_series() -> None:
    assert sorted(metrics.RATE_LIMIT_KINDS) == sorted(ratelimit.FRAME_RATE_SETTINGS)


def test_the_close_codes_counted_are_those_the_consumer_sends() -> None:
    assert {int(code) for code in metrics.CLOSE_CODES} == {1012, 1013, 4008, 4403, 4404, 4429, 4500}
    assert all(isinstance(code, Close) for code in metrics.CLOSE_CODES)


# -- The database pool's wait -------------------------------------------------------------------


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db(transaction=True)
async def test_a_call_that_waits_for_a_busy_pool_records_its_wait() -> None:
    count, total = sample("chat_db_pool_wait_seconds_count"), sample("chat_db_pool_wait_seconds_sum")
    quick = sample("chat_db_pool_wait_seconds_bucket", {"le": "0.1"})
    # One call more than the pool has threads: the last waits for one of the others to finish.
    await asyncio.gather(*(db.run(time.sleep, 0.3) for _ in range(db.THREADS + 1)))
    assert sample("chat_db_pool_wait_seconds_count") - count == db.THREADS + 1
    assert sample("chat_db_pool_wait_seconds_sum") - total >= 0.25
    assert sample("chat_db_pool_wait_seconds_bucket", {"le": "0.1"}) - quick == db.THREADS
