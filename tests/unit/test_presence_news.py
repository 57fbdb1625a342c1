"""How a worker tells a room who came and went: at once when quiet, together when busy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from chat import broadcast, protocol, worker
from tests import shapes

pytestmark = pytest.mark.database_agnostic

WINDOW = 0.05


def user(name: str) -> dict[str, Any]:
    return {"id": protocol.public_id(f"g:{name}"), "name": name, "guest": True}


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], str | None]]:
    """The presence frames the worker hands to the room, decoded and shape-checked, with `exclude`."""
    frames: list[tuple[dict[str, Any], str | None]] = []

    async def frame_send(slug: str, frame: str, *, seq: int | None = None, exclude: str | None = None) -> None:
        decoded = json.loads(frame)
        shapes.check(decoded)
        frames.append((decoded, exclude))

    monkeypatch.setattr(broadcast, "frame_send", frame_send)
    monkeypatch.setattr(worker, "PRESENCE_WINDOW_SECONDS", WINDOW)
    return frames


async def test_a_change_in_a_quiet_room_goes_out_at_once(sent: list[tuple[dict[str, Any], str | None]]) -> None:
    await worker.worker().announce("den", "join", user("ann"), 1, exclude="ann-tab")
    assert sent == [({"type": "presence", "event": "join", "user": user("ann"), "online": 1}, "ann-tab")]


async def test_changes_close_together_go_out_as_one_batch_in_order(
    sent: list[tuple[dict[str, Any], str | None]],
) -> None:
    news = worker.worker()
    await news.announce("den", "join", user("ann"), 1, exclude="ann-tab")
    for name, online in [("bob", 2), ("cy", 3), ("dee", 4)]:
        await news.announce("den", "join", user(name), online, exclude=f"{name}-tab")
    await news.announce("den", "leave", user("bob"), 3)
    assert len(sent) == 1  # the rest waits for the window to end
    await asyncio.sleep(WINDOW * 3)
    batch, exclude = sent[1]
    assert batch == {
        "type": "presence",
        "event": "batch",
        "changes": [{"event": "join", "user": user("cy")}, {"event": "join", "user": user("dee")}],
        "online": 3,
    }
    assert exclude is None  # joiners may see their own join: they are listed already


async def test_a_quick_leave_and_return_is_no_news_and_a_lone_change_keeps_its_shape(
    sent: list[tuple[dict[str, Any], str | None]],
) -> None:
    news = worker.worker()
    await news.announce("den", "join", user("ann"), 1)
    await news.announce("den", "leave", user("bob"), 1)
    await news.announce("den", "join", user("bob"), 2)  # a reconnect
    await news.announce("den", "join", user("cy"), 3, exclude="cy-tab")
    await asyncio.sleep(WINDOW * 3)
    assert [frame for frame, _ in sent] == [
        {"type": "presence", "event": "join", "user": user("ann"), "online": 1},
        {"type": "presence", "event": "join", "user": user("cy"), "online": 3},
    ]
    assert sent[1][1] == "cy-tab"


async def test_after_a_quiet_window_the_next_change_goes_out_at_once_again(
    sent: list[tuple[dict[str, Any], str | None]],
) -> None:
    news = worker.worker()
    await news.announce("den", "join", user("ann"), 1)
    await asyncio.sleep(WINDOW * 3)  # one window with nothing in it closes the room's window
    await news.announce("den", "join", user("bob"), 2)
    assert [frame["user"]["name"] for frame, _ in sent] == ["ann", "bob"]
    await news.announce("attic", "join", user("cy"), 1)  # rooms have windows of their own
    assert len(sent) == 3


async def test_a_window_whose_sending_failed_does_not_hold_back_later_changes(
    sent: list[tuple[dict[str, Any], str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    news = worker.worker()
    record = broadcast.frame_send

    async def fails_once_batched(slug: str, frame: str, *, seq: int | None = None, exclude: str | None = None) -> None:
        if json.loads(frame)["event"] == "batch":
            raise RuntimeError("a bug, say")
        await record(slug, frame, seq=seq, exclude=exclude)

    monkeypatch.setattr(broadcast, "frame_send", fails_once_batched)
    await news.announce("den", "join", user("ann"), 1)
    await news.announce("den", "join", user("bob"), 2)
    await news.announce("den", "join", user("cy"), 3)
    await asyncio.sleep(WINDOW * 3)  # the batch of bob and cy failed
    await news.announce("den", "join", user("dee"), 4)
    assert [frame["user"]["name"] for frame, _ in sent] == ["ann", "dee"]
