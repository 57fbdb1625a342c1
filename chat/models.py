"""Rooms, their messages, who may do what in them, and the names registered users hold."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

# Channels group names allow [a-zA-Z0-9-_.] and < 100 characters; the group is "room.<slug>".
slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,62}$", "Lower-case letters, digits and hyphens only.")


class Room(models.Model):
    class Kind(models.TextChoices):
        PUBLIC = "public", "public"
        MEMBERS = "members", "members only"

    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=100)
    topic = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(
        max_length=10,
        choices=Kind.choices,
        default=Kind.PUBLIC,
        help_text="Members-only rooms are seen and joined only by their members, their moderators and staff.",
    )
    guests_allowed = models.BooleanField(
        default=True, help_text="Whether people who are not logged in may join (public rooms)."
    )
    archived = models.BooleanField(default=False, help_text="Archived rooms stay readable but take no new messages.")
    slow_mode_seconds = models.PositiveIntegerField(
        default=0, help_text="At most one message per this many seconds per person; 0 is off."
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="member_rooms")
    moderators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="moderated_rooms",
        help_text="They delete any message, mute, ban and set slow mode in this room.",
    )
    # The seq of the newest message; bumped in the same transaction that stores a message.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # Counts edits and deletions, bumped with each: a resuming client asks for those above its own.
    last_change = models.PositiveBigIntegerField(default=0, editable=False)

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
    edited_at = models.DateTimeField(null=True, blank=True)
    # A deleted message stays as a tombstone without its body, so that a resuming client learns of it.
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The room's last_change when this message was last edited or deleted; 0 if never.
    change = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["room", "seq"]
        indexes = [
            models.Index(fields=["room", "change"], name="message_room_change"),
            # A person's latest message in a room, for slow mode.
            models.Index(fields=["room", "author_key", "seq"], name="message_room_author"),
        ]
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


class Sanction(models.Model):
    """A mute or a ban of one person in one room, until it expires or is lifted (deleted)."""

    class Kind(models.TextChoices):
        MUTE = "mute", "mute (reads, cannot send)"
        BAN = "ban", "ban (cannot join)"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="sanctions")
    kind = models.CharField(max_length=4, choices=Kind.choices)
    # The identity key (chat.identity): "u:<user id>" for a user, "g:<digest>" for a guest session.
    person_key = models.CharField(
        max_length=80, db_index=True, blank=True, help_text="Filled in from the user; for a guest, their messages' key."
    )
    person_name = models.CharField(max_length=150, blank=True, help_text="What they were called when sanctioned.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="sanctions"
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted.")
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["room", "person_key"], name="sanction_room_person")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.person_name} in {self.room_id}"

    def clean(self) -> None:
        if not self.person_key and self.user_id is None:
            raise ValidationError("Choose a user, or give a guest's key (from one of their messages).")
