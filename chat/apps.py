from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.ratelimit import parse_rate

        # At start-up, not at the first message: a worker with a broken limit must not serve.
        try:
            parse_rate(settings.CHAT_RATE_LIMIT)
        except ValueError as exc:
            raise ImproperlyConfigured(f"CHAT_RATE_LIMIT: {exc}") from None
