from __future__ import annotations

from typing import TYPE_CHECKING, Any

import environ
from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_save

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.protocol import MAX_SENT_BODY
        from chat.ratelimit import frame_rates, parse_rate

        # At start-up, not at the first message: a worker with a broken limit must not serve.
        try:
            frame_rates()
            parse_rate(settings.CHAT_INBOUND_FRAME_LIMIT)
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None
        if not 0 < settings.CHAT_MAX_BODY <= MAX_SENT_BODY:
            # A longer message could not be sent whole in one frame (chat.protocol.PAGE_BYTES).
            raise ImproperlyConfigured(f"CHAT_MAX_BODY must be from 1 to {MAX_SENT_BODY} characters.")
        # createsuperuser, the admin and any later sign-up each save the user their own way; post_save
        # is the one seam all of them go through, so no registered name is ever left unclaimed.
        post_save.connect(_claim_name, sender=get_user_model(), dispatch_uid="chat.name_claim_sync")


def check_can_serve() -> None:
    """Refuse to serve a production site whose shared state would live in this one process."""
    # Called where the site starts serving (chatsite.asgi), not in ready(): manage.py migrate,
    # collectstatic and check must still run on a host that has no Redis.
    # CHAT_SINGLE_PROCESS is read here rather than in settings.py: it only matters at this seam.
    if settings.DEBUG or settings.REDIS_URL or environ.Env().bool("CHAT_SINGLE_PROCESS", default=False):
        return
    raise ImproperlyConfigured(
        "no Redis is configured (REDIS_URL, or REDIS_SENTINELS) and DJANGO_DEBUG is off: presence, rate "
        "limits and the fan-out of messages would live in this process's memory, where no other worker "
        "sees them. Configure Redis, or set CHAT_SINGLE_PROCESS=1 to run this one process on purpose."
    )


def _claim_name(
    sender: type[Any], instance: AbstractBaseUser, update_fields: frozenset[str] | None = None, **kwargs: Any
) -> None:
    # Not at the top: chat.services imports the models, which do not exist until the registry is ready.
    from chat import services

    # A log-in saves last_login alone: the name is unchanged, and a write on every log-in is waste.
    # Raw saves (loaddata) are not skipped: a fixture of users must not leave their names free.
    if update_fields is not None and get_user_model().USERNAME_FIELD not in update_fields:
        return
    services.name_claim_sync(user=instance)
