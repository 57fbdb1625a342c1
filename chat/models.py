"""Rooms, their messages, and the names registered users hold."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

# Channels group names allow [a-zA-Z0-9-_.] and < 100 characters; the group is "room.<slug>".
slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,62}$", "Lower-case letters, digits and hyphens only.")


class Room(models.Model):
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=100)
    topic = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    archived = models.BooleanField(default=False, help_text="Archived rooms stay readable but take no new messages.")
    # The seq of the newest message; bumped in the same transaction that stores a message.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    # Who wrote it, as they were called then: guests have no user row.
    author_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    author_key = models.CharField(max_length=80, help_text="Stable identity of the author (user id or guest session).")
    author_name = models.CharField(max_length=150)
    author_guest = models.BooleanField(default=True)
    body = models.TextField()
    # NULL, not "": a message without a client_id must not collide with another in the constraint.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_unique_room_seq"),
            # Makes re-sends idempotent in the database, not just in the consumer.
            models.UniqueConstraint(
                fields=["room", "author_key", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_unique_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room.slug}#{self.seq} {self.author_name}"


class NameClaim(models.Model):
    """A registered user's name as look-alike checks see it (chat.names); kept by services.name_claim_sync."""

    # The user is the key: a fixture that carries claims as well as users overwrites the row the
    # signal wrote for the same user instead of colliding with it.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="name_claim"
    )
    skeleton = models.CharField(max_length=64, db_index=True, help_text="Digest of the name's skeleton, case ignored.")
    skeleton_as_drawn = models.CharField(
        max_length=64, db_index=True, help_text="Digest of the name's skeleton with its capitals read as drawn."
    )

    def __str__(self) -> str:
        return f"name claim of user {self.user_id}"
