"""Project settings: everything that differs between deployments comes from the environment."""

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from chat.shards import channels_redis_hosts  # plain Python: nothing of Django's is needed yet

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
    "axes",  # log-in throttling (see the security block below)
    "csp",  # the Content-Security-Policy header
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes requires: it turns a lockout flagged during authenticate() into the 429 page.
    "axes.middleware.AxesMiddleware",
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
# Redis Sentinel instead of fixed addresses: the sentinels (host:port, comma-separated) and the name
# of the master they watch (several names: one shard each). They are written into REDIS_URL, the
# one value that says where Redis is (chat.shards reads it; docs/deployment.md has its forms).
REDIS_SENTINELS = env.list("REDIS_SENTINELS", default=[])
REDIS_SENTINEL_MASTER = env.list("REDIS_SENTINEL_MASTER", default=[])
if REDIS_SENTINELS or REDIS_SENTINEL_MASTER:
    if REDIS_URL or not (REDIS_SENTINELS and REDIS_SENTINEL_MASTER):
        raise ImproperlyConfigured("Redis Sentinel: set both REDIS_SENTINELS and REDIS_SENTINEL_MASTER, not REDIS_URL")
    REDIS_URL = ",".join(f"redis+sentinel://{','.join(REDIS_SENTINELS)}/{name}/0" for name in REDIS_SENTINEL_MASTER)
# Namespaces this site's pub/sub channels and presence keys, so sites can share one Redis.
CHAT_LAYER_PREFIX = env.str("CHAT_LAYER_PREFIX", default="chat")
# The Channels layer that carries broadcasts between workers; what each costs is in
# docs/deployment.md ("Channel layers"). The consumer runs on any of them.
# The same servers in channels-redis's `hosts` form (several shards, Sentinel masters included).
_redis_hosts = channels_redis_hosts(REDIS_URL) if REDIS_URL else []
_CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    # One PUBLISH per broadcast, decoded once per worker, handed to members without a queue.
    "fanout": {
        "BACKEND": "chat.layers.RedisFanoutChannelLayer",
        "CONFIG": {"url": REDIS_URL, "prefix": CHAT_LAYER_PREFIX},
    },
    # channels-redis, stock: pub/sub (one queue and decode per member), or lists (one copy per member).
    "pubsub": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": _redis_hosts, "prefix": CHAT_LAYER_PREFIX},
    },
    "core": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": _redis_hosts, "prefix": CHAT_LAYER_PREFIX},
    },
    # One process only: nothing reaches other workers.
    "local": {"BACKEND": "chat.layers.InMemoryFanoutChannelLayer"},
    "memory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
}
CHAT_CHANNEL_LAYER = env.str("CHAT_CHANNEL_LAYER", default="fanout" if REDIS_URL else "local")
if CHAT_CHANNEL_LAYER not in _CHANNEL_LAYERS:
    raise ImproperlyConfigured(
        f"CHAT_CHANNEL_LAYER must be one of {', '.join(_CHANNEL_LAYERS)}, not {CHAT_CHANNEL_LAYER!r}"
    )
if "CONFIG" in _CHANNEL_LAYERS[CHAT_CHANNEL_LAYER] and not REDIS_URL:
    raise ImproperlyConfigured(f"CHAT_CHANNEL_LAYER={CHAT_CHANNEL_LAYER} needs REDIS_URL")
CHANNEL_LAYERS = {"default": _CHANNEL_LAYERS[CHAT_CHANNEL_LAYER]}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Accounts: sign-up (chat.accounts), log-in, log-out, password reset (django.contrib.auth.urls) -
# URL names of this project's own pages, not deployment choices: so not from the environment.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "chat:index"
# A log-in lockout (django-axes, the security block below) as a page of the site, still status 429.
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
# Mail, for password reset only. In debug the console backend prints it to the worker's log; otherwise
# SMTP, set with the DJANGO_EMAIL_* variables (each named after the Django setting it sets).
_DEFAULT_EMAIL_BACKEND = "console" if DEBUG else "smtp"
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default=f"django.core.mail.backends.{_DEFAULT_EMAIL_BACKEND}.EmailBackend"
)
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("DJANGO_EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("DJANGO_EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("DJANGO_EMAIL_USE_TLS", default=False)  # STARTTLS, as on port 587
# Django waits forever by default: a mail server that stops answering would hold the request's thread.
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="webmaster@localhost")

# --- Security: HTTPS, log-in throttling, Content-Security-Policy, WebSocket origins --------------
# Each setting, its default and the production value are in docs/security.md. The defaults suit
# plain http on 127.0.0.1 (make run, the test suite); production sets the DJANGO_SECURE_* ones, and
# `manage.py check --deploy` passes only then (tests/unit/test_deploy_check.py).

# HTTPS. Behind a TLS-terminating proxy, DJANGO_SECURE_PROXY_SSL_HEADER makes Django believe its
# X-Forwarded-Proto: set it only if the proxy overwrites that header, or clients can forge it.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# Load balancers probe workers over plain http: a 301 would mark every worker down. Prometheus
# scrapes each worker's own port, which speaks plain http too (see CHAT_METRICS below).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Browsers remember HSTS for this long: raise it in steps once https is known to work everywhere.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)

# Log-in throttling (django-axes): every django.contrib.auth log-in (the admin's, any LoginView)
# goes through authenticate(), where AxesStandaloneBackend refuses a locked-out client before
# ModelBackend checks the password. Failures are counted in the database, so all workers share them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("CHAT_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("CHAT_LOGIN_COOLOFF_SECONDS", default=15 * 60))
# Per username *and* address: guessing from one address is stopped, while nobody elsewhere can lock
# the real moderator out by failing on purpose under their name.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A lockout ends one cool-off after it began, however often the client retries meanwhile (the
# retries are refused unchecked), so "try again later" means what it says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The client's address is REMOTE_ADDR (daphne's peer) unless DJANGO_TRUSTED_PROXY_COUNT proxies,
# each appending the address it saw to X-Forwarded-For, stand in front: then it is the entry the
# outermost of them added, the N-th from the right; entries further left are whatever the client
# sent. ipware's proxy_count counts only the proxies listed after the client, hence N - 1; and it
# must not be strict, or a client-sent X-Forwarded-For would hide the real address.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
AXES_IPWARE_META_PRECEDENCE_ORDER: tuple[str, ...]
if TRUSTED_PROXY_COUNT:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT - 1
    IPWARE_STRICT = False
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

# Content-Security-Policy (django-csp): only this site's own scripts, styles and connections. The
# pages have no inline script or style (the e2e suite watches for violations), and neither has the
# admin. connect-src 'self' covers the room's ws:/wss: socket to the same host (CSP Level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # data: for the inline SVG favicon
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# WebSocket Origins: by default the host part only, against ALLOWED_HOSTS. Set to full origins
# (scheme://host[:port]) to also refuse the same host over another scheme or port (chat.origins).
CHAT_ALLOWED_ORIGINS = env.list("DJANGO_WS_ALLOWED_ORIGINS", default=[])
# --- end of the security block --------------------------------------------------------------------

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
# How long a worker lets people into a room from what it holds of it at most, before reading it
# again (chat.snapshots); 0 reads the database at every join.
CHAT_ROOM_SNAPSHOT_SECONDS = env.float("CHAT_ROOM_SNAPSHOT_SECONDS", default=30.0)
CHAT_PRESENCE_TTL_SECONDS = env.float("CHAT_PRESENCE_TTL_SECONDS", default=45.0)
CHAT_RATE_LIMIT = env.str("CHAT_RATE_LIMIT", default="20/10")
# The other inbound frames' budgets, per person and per connection (chat.ratelimit). The page asks
# for history when it scrolls back or fills a gap (in a busy room, broadcasts from several workers
# arrive out of order: every jump is a fill), and says "typing" at most every 2 s.
CHAT_HISTORY_RATE_LIMIT = env.str("CHAT_HISTORY_RATE_LIMIT", default="60/10")
CHAT_TYPING_RATE_LIMIT = env.str("CHAT_TYPING_RATE_LIMIT", default="10/10")
CHAT_OTHER_RATE_LIMIT = env.str("CHAT_OTHER_RATE_LIMIT", default="10/10")
# Refused frames a connection may send within 10 s before it is closed (4429) as a flood.
CHAT_FLOOD_STRIKES = env.int("CHAT_FLOOD_STRIKES", default=10)
# Any frames at all, per connection, counted before they are queued (chat.transport): far above the
# sum of the budgets above, so that only a flood meets it, and then at once (4429).
CHAT_INBOUND_FRAME_LIMIT = env.str("CHAT_INBOUND_FRAME_LIMIT", default="200/10")
CHAT_TYPING_INTERVAL_SECONDS = 2.0
# Connection attempts per client address (chat.admission), shared by all workers: a page load is one,
# a reconnect another; generous, as people behind one NAT share an address. Addresses in the exempt
# list are not counted: the host itself (health checks, a local proxy that is not trusted with
# DJANGO_TRUSTED_PROXY_COUNT, whose clients would otherwise all share its address).
CHAT_CONNECT_RATE_LIMIT = env.str("CHAT_CONNECT_RATE_LIMIT", default="120/60")
CHAT_CONNECT_LIMIT_EXEMPT = env.list("CHAT_CONNECT_LIMIT_EXEMPT", default=["127.0.0.1/32", "::1/128"])
# Open sockets per person (user or guest session) across all rooms, tabs and workers.
CHAT_MAX_SOCKETS_PER_PERSON = env.int("CHAT_MAX_SOCKETS_PER_PERSON", default=30)
# How long after sending authors may edit or delete their own messages (moderators: any, any time).
CHAT_EDIT_WINDOW = env.int("CHAT_EDIT_WINDOW", default=15 * 60)  # seconds
CHAT_SEND_BUFFER_LIMIT = env.int("CHAT_SEND_BUFFER_LIMIT", default=1024 * 1024)
# On SIGTERM, how long a worker answers /readyz 503 (and sends newcomers on) before it asks its own
# clients to reconnect: for a load balancer that polls /readyz, two of its polling intervals.
CHAT_DRAIN_SECONDS = env.float("CHAT_DRAIN_SECONDS", default=0.0)
# Off: never touch daphne's internals (chat.transport), every frame through ASGI send. For when a
# daphne, autobahn or Twisted upgrade is in doubt; the worker says at start-up which way it runs.
CHAT_DIRECT_TRANSPORT = env.bool("CHAT_DIRECT_TRANSPORT", default=True)
# On PostgreSQL a post's two statements run on the event loop (chat.asyncdb); off: on chat.db's
# threads, as every other query.
CHAT_ASYNC_DB = env.bool("CHAT_ASYNC_DB", default=True)
# "flat": cookies, session and user in one WebSocket middleware (chat.identity.ConnectionAuthMiddleware,
# less memory per socket); "channels": Channels' CookieMiddleware, SessionMiddleware and AuthMiddleware.
CHAT_AUTH_MIDDLEWARE = env.str("CHAT_AUTH_MIDDLEWARE", default="flat")
if CHAT_AUTH_MIDDLEWARE not in ("flat", "channels"):
    raise ImproperlyConfigured(f'CHAT_AUTH_MIDDLEWARE is "flat" or "channels", not {CHAT_AUTH_MIDDLEWARE!r}')

# /metrics (docs/deployment.md, "Metrics"): 404 unless CHAT_METRICS is on. Then only for a peer
# within CHAT_METRICS_ALLOWED_ADDRESSES (IPs or networks; this host by default) that did not come
# through a proxy, and, when CHAT_METRICS_TOKEN is set, only with `Authorization: Bearer <token>`.
CHAT_METRICS = env.bool("CHAT_METRICS", default=False)
CHAT_METRICS_TOKEN = env.str("CHAT_METRICS_TOKEN", default="")
CHAT_METRICS_ALLOWED_ADDRESSES = env.list("CHAT_METRICS_ALLOWED_ADDRESSES", default=["127.0.0.1", "::1"])
# At start-up, not at the first scrape: a typo must not quietly refuse (or allow) everyone.
try:
    for _address in CHAT_METRICS_ALLOWED_ADDRESSES:
        ipaddress.ip_network(_address, strict=False)
except ValueError as exc:
    raise ImproperlyConfigured(f"CHAT_METRICS_ALLOWED_ADDRESSES: {exc}") from None
if CHAT_METRICS and not CHAT_METRICS_ALLOWED_ADDRESSES:
    raise ImproperlyConfigured("CHAT_METRICS is on but CHAT_METRICS_ALLOWED_ADDRESSES is empty: nobody could scrape")
