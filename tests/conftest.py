"""Shared fixtures. The in-process suite's environment is set in pyproject.toml ([tool.pytest.ini_options] env)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import channel_layers

from chat import presence, ratelimit, worker


@pytest.fixture(autouse=True)
def fresh_process_state() -> Iterator[None]:
    """Each test gets a new channel layer, presence store, rate limiter and worker registry, as a new
    worker would."""
    caches = (presence.presence, ratelimit.limiter, worker.worker)
    channel_layers.backends.clear()
    for made in caches:
        made.cache_clear()
    yield
    channel_layers.backends.clear()
    for made in caches:
        made.cache_clear()


@pytest.fixture(autouse=True)
def plain_static_storage(settings: Any) -> None:
    """Pages render without collectstatic (the hashed manifest is tested by the daphne-based tests)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
