from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.protocol import MAX_SENT_BODY
        from chat.ratelimit import frame_rates

        # At start-up, not at the first message: a worker with a broken limit must not serve.
        try:
            frame_rates()
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None
        if not 0 < settings.CHAT_MAX_BODY <= MAX_SENT_BODY:
            # A longer message could not be sent whole in one frame (chat.protocol.PAGE_BYTES).
            raise ImproperlyConfigured(f"CHAT_MAX_BODY must be from 1 to {MAX_SENT_BODY} characters.")
