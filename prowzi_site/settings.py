"""Settings for Prowzi, read from the environment.

Every setting an operator may change is an environment variable; the defaults
suit one machine with a SQLite file and a local Redis.
"""

from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from prowzi_site.env import env_bool, env_float, env_int, env_str, load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")
# Lets generic classes such as ModelAdmin[Model] be subscripted at run time.
django_stubs_ext.monkeypatch()

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY", default="")
if not DEBUG and (len(SECRET_KEY) < 40 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or too weak. Set it to a random string of at "
        "least 40 characters, or set DEBUG=true for local development."
    )
SECRET_KEY = SECRET_KEY or "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = [
    host.strip()
    for host in env_str("ALLOWED_HOSTS", default="").split(",")
    if host.strip()
]
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is not set. List the host names this server answers "
            "to, separated by commas (for example: prowzi.example.org)."
        )
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

# Behind HTTPS (the default with DEBUG off) cookies are secure and browsers
# are told to stay on HTTPS. PROWZI_HTTPS=false is for a plain-HTTP run on
# loopback, such as the demo.
HTTPS = env_bool("PROWZI_HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("PROWZI_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env_int("PROWZI_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = env_bool("PROWZI_HSTS_PRELOAD", default=False)
if env_bool("PROWZI_BEHIND_PROXY", default=False):
    # The balancer terminates TLS and says so in this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_rq",
    "research",
    "monitoring",
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

ROOT_URLCONF = "prowzi_site.urls"
ASGI_APPLICATION = "prowzi_site.asgi.application"
WSGI_APPLICATION = "prowzi_site.wsgi.application"

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


def _database_settings() -> dict[str, Any]:
    url = env_str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'prowzi.sqlite3'}")
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web, workers and the command line write at once. WAL alone still
        # gives "database is locked" under contention; taking the write lock
        # at BEGIN (IMMEDIATE) with a generous busy timeout does not.
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        test_name = env_str("PROWZI_TEST_DATABASE", default="")
        if test_name:
            # Worker and web processes started by the tests share this file.
            config["TEST"] = {"NAME": test_name}
    pool_size = env_int("PROWZI_DB_POOL_SIZE", default=0)
    if pool_size > 0 and config["ENGINE"] == "django.db.backends.postgresql":
        # For web servers: under ASGI every database call would otherwise
        # open and close its own PostgreSQL connection, which is slow enough
        # to make a burst of websocket handshakes time out. Not for workers:
        # RQ forks a process per job, and a pool must not cross a fork.
        config["OPTIONS"] = {"pool": {"min_size": 1, "max_size": pool_size}}
    return config


DATABASES = {"default": _database_settings()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

REDIS_URL = env_str("REDIS_URL", default="redis://127.0.0.1:6379/0")

RQ_QUEUES = {
    "prowzi": {
        "URL": REDIS_URL,
        "DEFAULT_TIMEOUT": env_int("PROWZI_JOB_TIMEOUT", default=3600),
    },
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    },
}

# The product's own settings; research.config.get_config() reads them.
PROWZI_ENABLE_CHECKPOINTING = env_bool("PROWZI_ENABLE_CHECKPOINTING", default=True)
PROWZI_ENABLE_TELEMETRY = env_bool("PROWZI_ENABLE_TELEMETRY", default=True)
PROWZI_CHECKPOINT_DIR = Path(
    env_str("PROWZI_CHECKPOINT_DIR", default="./prowzi_checkpoints")
)
PROWZI_CORPUS_PATH = Path(
    env_str(
        "PROWZI_CORPUS_PATH", default=str(BASE_DIR / "prowzi_data" / "corpus.sqlite3")
    )
)
PROWZI_FAULTS = env_str("PROWZI_FAULTS", default="")
PROWZI_RETRY_ATTEMPTS = env_int("PROWZI_RETRY_ATTEMPTS", default=3)
PROWZI_RETRY_BASE_DELAY = env_float("PROWZI_RETRY_BASE_DELAY", default=1.0)
PROWZI_RETRY_MAX_DELAY = env_float("PROWZI_RETRY_MAX_DELAY", default=30.0)
PROWZI_STAGE_TIMEOUT = env_float("PROWZI_STAGE_TIMEOUT", default=600.0)
PROWZI_LEASE_SECONDS = env_float("PROWZI_LEASE_SECONDS", default=30.0)
PROWZI_AUTO_RESUME = env_bool("PROWZI_AUTO_RESUME", default=True)
PROWZI_WATCHDOG_INTERVAL = env_float("PROWZI_WATCHDOG_INTERVAL", default=5.0)
# An idle RQ worker writes a heartbeat every (this - 15) seconds; /healthz and
# /metrics count a worker as alive while its last heartbeat is recent.
PROWZI_WORKER_TTL = env_int("PROWZI_WORKER_TTL", default=60)
if PROWZI_WORKER_TTL < 1:
    # RQ takes 0 for "unset" and falls back to 420 seconds.
    raise ImproperlyConfigured(
        "PROWZI_WORKER_TTL must be a whole number of seconds, 1 or more."
    )
PROWZI_QUEUE = "prowzi"
# /metrics answers requests carrying "Authorization: Bearer <token>"; with no
# token set it answers only requests from loopback addresses.
PROWZI_METRICS_TOKEN = env_str("PROWZI_METRICS_TOKEN", default="")
# One JSON line per stage event for log shippers: a file path, or "-" for
# standard output; empty turns it off.
PROWZI_EVENT_LOG = env_str("PROWZI_EVENT_LOG", default="")
# The model engine (research.llm): intent, planning, writing and evaluation
# when PROWZI_LLM_MODEL is set; the offline engine otherwise.
PROWZI_LLM_BASE_URL = env_str(
    "PROWZI_LLM_BASE_URL", default="https://openrouter.ai/api/v1"
)
PROWZI_LLM_API_KEY = env_str("PROWZI_LLM_API_KEY", default="")
PROWZI_LLM_MODEL = env_str("PROWZI_LLM_MODEL", default="")
PROWZI_LLM_BUDGET_USD = env_float("PROWZI_LLM_BUDGET_USD", default=1.0)
PROWZI_LLM_PRICE_PER_1K_INPUT = env_float("PROWZI_LLM_PRICE_PER_1K_INPUT", default=0.0)
PROWZI_LLM_PRICE_PER_1K_OUTPUT = env_float(
    "PROWZI_LLM_PRICE_PER_1K_OUTPUT", default=0.0
)
# Scholarly web providers (arxiv, semantic_scholar, openalex, crossref), off
# unless named here or in a session's options; answers are cached on disk.
PROWZI_PROVIDERS = [
    name.strip()
    for name in env_str("PROWZI_PROVIDERS", default="").split(",")
    if name.strip()
]
PROWZI_CONTACT_EMAIL = env_str("PROWZI_CONTACT_EMAIL", default="")
PROWZI_PROVIDER_BASE_URLS: dict[str, str] = {}
PROWZI_PROVIDER_CACHE_DIR = env_str("PROWZI_PROVIDER_CACHE_DIR", default="")
# Fill a library upload's missing title, authors and date from Crossref by
# its DOI (the command line asks with `corpus add --lookup-doi`).
PROWZI_DOI_LOOKUP = env_bool("PROWZI_DOI_LOOKUP", default=False)
PROWZI_ALERT_RETRIES = env_int("PROWZI_ALERT_RETRIES", default=5)
PROWZI_ALERT_SLOW_FACTOR = env_float("PROWZI_ALERT_SLOW_FACTOR", default=3.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {
        "unhealthy_probe": {"()": "prowzi_site.logfilters.UnhealthyProbeFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"level": "WARNING"},
        "django.request": {"level": "WARNING", "filters": ["unhealthy_probe"]},
        "rq": {"level": "INFO"},
    },
}
