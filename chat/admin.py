"""Moderation: rooms and messages. Changes reach open pages live through chat.broadcast."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from chat import services
from chat.models import Message, Room, Sanction


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin[Room]):
    list_display = ["slug", "name", "kind", "guests_allowed", "archived", "slow_mode_seconds", "message_count"]
    list_filter = ["kind", "guests_allowed", "archived"]
    search_fields = ["slug", "name", "topic"]
    readonly_fields = ["created_at", "last_seq", "last_change"]
    filter_horizontal = ["members", "moderators"]
    fieldsets = [
        (None, {"fields": ["slug", "name", "topic"]}),
        ("Who may enter", {"fields": ["kind", "guests_allowed", "members"]}),
        ("Moderation", {"fields": ["moderators", "archived", "slow_mode_seconds"]}),
        ("Counters", {"fields": ["created_at", "last_seq", "last_change"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Room]:
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(ordering="message_count", description="messages")
    def message_count(self, room: Any) -> int:
        return int(room.message_count)

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        services.room_save(room=obj)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # members and moderators
        if change:
            services.room_rights_changed(room=form.instance)

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        services.room_delete(rooms=Room.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        services.room_delete(rooms=queryset)


def _sanction_authors(request: HttpRequest, queryset: QuerySet[Message], kind: str, days: int | None) -> None:
    expires = None if days is None else timezone.now() + timedelta(days=days)
    authors = {(m.room_id, m.author_key): m for m in queryset.select_related("room", "author_user")}
    for message in authors.values():
        sanction = Sanction(
            room=message.room,
            kind=kind,
            person_key=message.author_key,
            person_name=message.author_name,
            user=message.author_user,
            expires_at=expires,
            created_by=request.user if request.user.is_authenticated else None,
        )
        services.sanction_save(sanction=sanction)
    verb = "Muted" if kind == Sanction.Kind.MUTE else "Banned"
    messages.success(request, f"{verb} {len(authors)} author(s) in their rooms.")


@admin.action(description="Mute the authors in their rooms for a day")
def mute_authors_for_a_day(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Message]) -> None:
    _sanction_authors(request, queryset, Sanction.Kind.MUTE, 1)


@admin.action(description="Ban the authors from their rooms")
def ban_authors(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Message]) -> None:
    _sanction_authors(request, queryset, Sanction.Kind.BAN, None)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = ["room", "seq", "author_name", "author_guest", "short_body", "sent_at", "edited_at", "deleted_at"]
    list_filter = ["room", "author_guest", ("deleted_at", admin.EmptyFieldListFilter)]
    actions = ["delete_selected", mute_authors_for_a_day, ban_authors]
    search_fields = ["body", "author_name"]
    list_select_related = ["room"]
    readonly_fields = [
        "room",
        "seq",
        "author_user",
        "author_key",
        "author_name",
        "author_guest",
        "client_id",
        "sent_at",
        "edited_at",
        "deleted_at",
        "change",
    ]

    @admin.display(description="body")
    def short_body(self, message: Message) -> str:
        return message.body if len(message.body) <= 80 else message.body[:79] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Messages are posted in the room, where they get their seq.

    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        services.message_delete(messages=Message.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        services.message_delete(messages=queryset)


@admin.register(Sanction)
class SanctionAdmin(admin.ModelAdmin[Sanction]):
    """Mutes and bans: saving one takes effect on every worker at once; deleting one lifts it."""

    list_display = ["person_name", "kind", "room", "expires_at", "reason", "created_by", "created_at"]
    list_filter = ["kind", "room"]
    search_fields = ["person_name", "person_key", "reason"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "created_by"]
    fields = ["room", "kind", "user", "person_key", "person_name", "expires_at", "reason", "created_by", "created_at"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"expires_at": timezone.now() + timedelta(days=1), **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: Sanction, form: Any, change: bool) -> None:
        if not change and request.user.is_authenticated:
            obj.created_by = request.user
        services.sanction_save(sanction=obj)

    def delete_model(self, request: HttpRequest, obj: Sanction) -> None:
        services.sanction_lift(sanctions=Sanction.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Sanction]) -> None:
        services.sanction_lift(sanctions=queryset)
