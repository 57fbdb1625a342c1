"""Project settings: everything that differs between deployments comes from the environment."""

from pathlib import Path

import django_stubs_ext
import environ

# Lets admin classes be written as ModelAdmin[Room] for the type checker.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Required, except on a developer's machine in debug mode.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-dev-only-key" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# An empty DATABASE_URL (as some process managers pass) means the default, like an unset one.
DATABASES = {
    "default": env.db_url_config(env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
# Consumers reach the database from a thread pool; keep those connections open between messages.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several daphne workers share one SQLite file: wait for the write lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# Namespaces this site's pub/sub channels and presence keys, so sites can share one Redis.
CHAT_LAYER_PREFIX = env.str("CHAT_LAYER_PREFIX", default="chat")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chat.layers.RedisFanoutChannelLayer",
            "CONFIG": {"url": REDIS_URL, "prefix": CHAT_LAYER_PREFIX},
        }
    }
else:
    # One process only: the in-memory layer cannot reach other workers.
    CHANNEL_LAYERS = {"default": {"BACKEND": "chat.layers.InMemoryFanoutChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage" if DEBUG else "chat.storage.StaticStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}

# Chat behaviour. Each value is documented in docs/deployment.md.
CHAT_MAX_BODY = env.int("CHAT_MAX_BODY", default=4000)
CHAT_HISTORY_LIMIT = 50
CHAT_RESUME_LIMIT = env.int("CHAT_RESUME_LIMIT", default=500)
CHAT_HEARTBEAT_SECONDS = env.float("CHAT_HEARTBEAT_SECONDS", default=15.0)
CHAT_PRESENCE_TTL_SECONDS = env.float("CHAT_PRESENCE_TTL_SECONDS", default=45.0)
CHAT_RATE_LIMIT = env.str("CHAT_RATE_LIMIT", default="20/10")
# The other inbound frames' budgets, per person and per connection (chat.ratelimit). The page asks
# for history when it scrolls back or fills a gap, and says "typing" at most every 2 s.
CHAT_HISTORY_RATE_LIMIT = env.str("CHAT_HISTORY_RATE_LIMIT", default="30/10")
CHAT_TYPING_RATE_LIMIT = env.str("CHAT_TYPING_RATE_LIMIT", default="10/10")
CHAT_OTHER_RATE_LIMIT = env.str("CHAT_OTHER_RATE_LIMIT", default="10/10")
# Refused frames a connection may send within 10 s before it is closed (4429) as a flood.
CHAT_FLOOD_STRIKES = env.int("CHAT_FLOOD_STRIKES", default=10)
CHAT_TYPING_INTERVAL_SECONDS = 2.0
CHAT_SEND_BUFFER_LIMIT = env.int("CHAT_SEND_BUFFER_LIMIT", default=1024 * 1024)
