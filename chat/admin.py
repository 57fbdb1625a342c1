"""Moderation: rooms and messages. Changes reach open pages live through chat.broadcast."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from chat import services
from chat.models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin[Room]):
    list_display = ["slug", "name", "topic", "archived", "message_count", "created_at"]
    list_filter = ["archived"]
    search_fields = ["slug", "name", "topic"]
    readonly_fields = ["created_at", "last_seq"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Room]:
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(ordering="message_count", description="messages")
    def message_count(self, room: Any) -> int:
        return int(room.message_count)

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        services.room_save(room=obj)

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        services.room_delete(rooms=Room.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        services.room_delete(rooms=queryset)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = ["room", "seq", "author_name", "author_guest", "short_body", "sent_at"]
    list_filter = ["room", "author_guest"]
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
