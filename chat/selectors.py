"""Reads. Plain sync functions; consumers call them through chat.db.run."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from chat.models import Message, Room


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Message]  # oldest first
    has_more: bool


def room_get(*, slug: str) -> Room | None:
    return Room.objects.filter(slug=slug).first()


def room_list() -> QuerySet[Room]:
    return Room.objects.all()


def room_list_with_counts() -> QuerySet[Room]:
    return Room.objects.annotate(message_count=Count("messages"))


def room_counters(*, room_id: int) -> tuple[int, int]:
    """The room's last seq and last change (0, 0 if it is gone)."""
    row = Room.objects.filter(pk=room_id).values_list("last_seq", "last_change").first()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def message_changes(*, room_id: int, upto: int, since: int, limit: int) -> list[Message]:
    """Messages with seq <= `upto` edited or deleted after change `since`, in the order of the changes."""
    rows = Message.objects.filter(room_id=room_id, change__gt=since, seq__lte=upto).order_by("change")
    return list(rows[:limit])


def room_last_seqs(*, slugs: list[str]) -> dict[str, int]:
    return dict(Room.objects.filter(slug__in=slugs).values_list("slug", "last_seq"))


def message_count_exceeds(*, room_id: int, after: int, count: int) -> bool:
    """Whether more than `count` messages have a seq above `after` (reads the index, not the rows)."""
    later = Message.objects.filter(room_id=room_id, seq__gt=after).order_by("seq").values_list("seq", flat=True)
    return later[count : count + 1].exists()


def message_page(*, room_id: int, before: int | None = None, after: int | None = None, limit: int) -> Page:
    """Messages with after < seq < before, oldest first.

    Without `after` it is the newest `limit` of them and `has_more` says older ones exist; with
    `after` it is the oldest `limit` and `has_more` says newer ones exist.
    """
    rows = Message.objects.filter(room_id=room_id, deleted_at__isnull=True)
    if before is not None:
        rows = rows.filter(seq__lt=before)
    if after is not None:
        rows = rows.filter(seq__gt=after)
        found = list(rows.order_by("seq")[: limit + 1])
        return Page(messages=found[:limit], has_more=len(found) > limit)
    found = list(rows.order_by("-seq")[: limit + 1])
    return Page(messages=found[:limit][::-1], has_more=len(found) > limit)
