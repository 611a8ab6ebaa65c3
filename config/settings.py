"""Specgate settings: environment variables with embedded defaults.

With nothing set, the app runs on SQLite in DATA_DIR, Celery runs tasks
eagerly, the cache is local memory and a built-in token issuer stands in for
Clerk. DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis. Every
variable is documented in README.md.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.env import (
    env_bool,
    env_choice,
    env_decimal,
    env_float,
    env_int,
    env_list,
    env_pem,
    env_str,
    env_url,
    secret_in_file,
)
from core.observability.logs import logging_config
from specs.engine.compact import DEFAULT_BUDGETS

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / ".data"))).resolve()
# Owner only: it holds the generated secrets, the local issuer's key and the SQLite database.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _private_file(path: Path) -> None:
    """Create PATH empty and readable by its owner only; take group/world access off an
    existing one. SQLite creates its -wal and -shm files with the database file's mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            with contextlib.suppress(PermissionError):  # not ours to change: the owner decides
                path.chmod(0o600)


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or secret_in_file(DATA_DIR / "secret_key")

PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
_public_host = urlparse(PUBLIC_BASE_URL).hostname or "127.0.0.1"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [_public_host, "127.0.0.1", "localhost"])
if _public_host not in ALLOWED_HOSTS and "*" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public_host)
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]
MCP_ALLOWED_ORIGINS = env_list("MCP_ALLOWED_ORIGINS")
for _origin in MCP_ALLOWED_ORIGINS:
    if not urlparse(_origin).scheme or not urlparse(_origin).netloc:
        raise ImproperlyConfigured(
            f"MCP_ALLOWED_ORIGINS: {_origin!r} is not an origin like https://app.example"
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    # Before django.contrib.auth: its `createsuperuser` (asks for an email) replaces auth's.
    "accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "specs",
    "servers",
    "tools",
    "tooltests",
    "credentials",
    "usage",
    "billing",
    "lifecycle",
    "webhooks",
    "gateway",
    "oauth2_provider",
    "authz",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "core.middleware.ApiEnvelopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
APPEND_SLASH = False
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if _db.get("ENGINE") not in {
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    }:
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// (or sqlite://) URL")
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "specgate.sqlite3"),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not shared-cache memory: tests with threads (a live server, concurrent
            # writers) then get SQLite's busy timeout instead of "database table is locked".
            # One file per test process, so parallel runs never share it.
            "TEST": {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
_sqlite_name = str(DATABASES["default"].get("NAME") or "")
if (
    DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    and _sqlite_name not in ("", ":memory:")
    and not _sqlite_name.startswith("file:")
    and Path(_sqlite_name).parent.is_dir()
):
    # Before Django's first connection creates it with the umask's mode (usually 0644).
    _private_file(Path(_sqlite_name))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# Operators sign in to the admin with their email address (accounts/backends.py).
AUTHENTICATION_BACKENDS = ["accounts.backends.OperatorEmailBackend"]

# --- Cache, broker ----------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "sg",
            # A Redis that hangs must not hang requests: fail fast, the callers degrade.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker logs through LOGGING (LOG_FORMAT, the request id filter) like the web process,
# instead of replacing the root logger's handlers with its own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "billing-report-overage": {"task": "billing.tasks.report_overage", "schedule": 300.0},
    "usage-delete-expired-logs": {"task": "usage.delete_expired_logs", "schedule": 3600.0},
    "usage-create-log-partitions": {"task": "usage.create_log_partitions", "schedule": 3600.0},
    "authz-delete-unused-clients": {
        "task": "authz.tasks.delete_unused_clients",
        "schedule": 3600.0,
    },
    "authz-forget-used-codes": {"task": "authz.tasks.forget_used_codes", "schedule": 3600.0},
    "webhooks-requeue-stale": {
        "task": "webhooks.tasks.requeue_stale_webhook_events",
        "schedule": 300.0,
    },
}

# --- Auth -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
CLERK_JWKS_URL = env_url("CLERK_JWKS_URL")
CLERK_JWT_KEY = env_pem("CLERK_JWT_KEY")
CLERK_ISSUER = env_str("CLERK_ISSUER")
CLERK_AUTHORIZED_PARTIES = env_list("CLERK_AUTHORIZED_PARTIES")
CLERK_WEBHOOK_SECRET = env_str("CLERK_WEBHOOK_SECRET")
CLERK_JWKS_CACHE_SECONDS = env_int("CLERK_JWKS_CACHE_SECONDS", 300, minimum=1)
CLERK_JWKS_MAX_STALE_SECONDS = env_int("CLERK_JWKS_MAX_STALE_SECONDS", 3600, minimum=0)
CLERK_JWT_LEEWAY_SECONDS = env_int("CLERK_JWT_LEEWAY_SECONDS", 5, minimum=0)
if (CLERK_JWKS_URL or CLERK_JWT_KEY) and not CLERK_ISSUER:
    raise ImproperlyConfigured(
        "CLERK_ISSUER is required when CLERK_JWKS_URL or CLERK_JWT_KEY is set"
    )
LOCAL_ISSUER_ENABLED = env_bool("LOCAL_ISSUER", not (CLERK_JWKS_URL or CLERK_JWT_KEY))
LOCAL_ISSUER_KEY_PATH = DATA_DIR / "local_issuer_key.pem"

# --- MCP authorization (OAuth 2.1; README: "Connecting MCP clients with OAuth") --------
# Where the sign-in page sends a browser to sign in with Clerk; Clerk sends it back to the
# `redirect_url` query parameter. Empty on the embedded default: the user pastes a token.
CLERK_SIGN_IN_URL = env_url("CLERK_SIGN_IN_URL")
# How long the sign-in of the authorization pages lasts (a Django session, nothing more).
OAUTH_SIGN_IN_SECONDS = env_int("OAUTH_SIGN_IN_SECONDS", 600, minimum=60)
# OAuth access tokens are signed and verified without a database read; short-lived, so that a
# signature alone is never trusted for long (revocation reaches the gateway within seconds).
OAUTH_ACCESS_TOKEN_SECONDS = env_int("OAUTH_ACCESS_TOKEN_SECONDS", 300, minimum=30)
OAUTH_REFRESH_TOKEN_SECONDS = env_int("OAUTH_REFRESH_TOKEN_SECONDS", 30 * 86400, minimum=3600)
OAUTH_REGISTRATIONS_PER_MINUTE = env_int("OAUTH_REGISTRATIONS_PER_MINUTE", 10, minimum=1)
OAUTH_SIGN_INS_PER_MINUTE = env_int("OAUTH_SIGN_INS_PER_MINUTE", 20, minimum=1)
# Linking a person's own upstream account: how long the connect page's state lives.
UPSTREAM_LINK_SECONDS = env_int("UPSTREAM_LINK_SECONDS", 600, minimum=60)
# A dynamically registered client that never obtained a token is deleted after this long.
OAUTH_UNUSED_CLIENT_HOURS = env_int("OAUTH_UNUSED_CLIENT_HOURS", 24, minimum=1)
OAUTH2_PROVIDER: dict[str, object] = {
    "SCOPES": {
        "tools:read": "List the server's tools",
        "tools:call:readonly": "List tools and call those that change nothing",
        "tools:call": "List and call every enabled tool",
    },
    "DEFAULT_SCOPES": ["tools:call"],
    "OAUTH2_VALIDATOR_CLASS": "authz.validator.SpecgateValidator",
    "ACCESS_TOKEN_GENERATOR": "authz.validator.access_token_generator",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "ACCESS_TOKEN_EXPIRE_SECONDS": OAUTH_ACCESS_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": OAUTH_REFRESH_TOKEN_SECONDS,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 50,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "PKCE_REQUIRED": True,
    "REQUEST_APPROVAL_PROMPT": "force",
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
    "ALLOW_URI_WILDCARDS": False,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    "DCR_REGISTRATION_TOKEN_EXPIRE_SECONDS": 30 * 86400,
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "none",
        "client_secret_post",
        "client_secret_basic",
    ],
    # The issuer: the `iss` of authorization responses (RFC 9207) and of access tokens.
    "OIDC_ISS_ENDPOINT": f"{PUBLIC_BASE_URL}/",
}
LOGIN_URL = "authz:sign-in"
# The toolkit's client model is swappable; its migrations name it through this setting.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"

# --- Stripe and plans -----------------------------------------------------------------
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_API_BASE = env_url("STRIPE_API_BASE")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_PRICE_STARTER = env_str("STRIPE_PRICE_STARTER")
STRIPE_PRICE_PRO = env_str("STRIPE_PRICE_PRO")
STRIPE_METERED_PRICE_STARTER = env_str("STRIPE_METERED_PRICE_STARTER")
STRIPE_METERED_PRICE_PRO = env_str("STRIPE_METERED_PRICE_PRO")
STRIPE_METER_EVENT_NAME = env_str("STRIPE_METER_EVENT_NAME", "tool_calls")
STRIPE_MAX_NETWORK_RETRIES = env_int("STRIPE_MAX_NETWORK_RETRIES", 2, minimum=0)
BILLING_SUCCESS_URL = env_url("BILLING_SUCCESS_URL", f"{PUBLIC_BASE_URL}/billing/success")
BILLING_CANCEL_URL = env_url("BILLING_CANCEL_URL", f"{PUBLIC_BASE_URL}/billing/cancel")
BILLING_RETURN_URL = env_url("BILLING_RETURN_URL", f"{PUBLIC_BASE_URL}/billing")
PLAN_ENFORCEMENT = env_bool("PLAN_ENFORCEMENT", bool(STRIPE_SECRET_KEY))

PLANS: dict[str, dict[str, object]] = {
    "free": {
        "included_calls": env_int("PLAN_FREE_INCLUDED_CALLS", 1_000, minimum=0),
        "overage_per_1000": None,
        "requests_per_minute": env_int("PLAN_FREE_RPM", 60, minimum=1),
        "max_servers": env_int("PLAN_FREE_MAX_SERVERS", 3, minimum=0),
    },
    "starter": {
        "included_calls": env_int("PLAN_STARTER_INCLUDED_CALLS", 50_000, minimum=0),
        "overage_per_1000": env_decimal("PLAN_STARTER_OVERAGE_PER_1000", "0.50"),
        "requests_per_minute": env_int("PLAN_STARTER_RPM", 300, minimum=1),
        "max_servers": env_int("PLAN_STARTER_MAX_SERVERS", 20, minimum=0),
    },
    "pro": {
        "included_calls": env_int("PLAN_PRO_INCLUDED_CALLS", 500_000, minimum=0),
        "overage_per_1000": env_decimal("PLAN_PRO_OVERAGE_PER_1000", "0.30"),
        "requests_per_minute": env_int("PLAN_PRO_RPM", 1_200, minimum=1),
        "max_servers": None,
    },
}
BUDGET_CAP_MAX = Decimal("10000")

# --- Product limits ---------------------------------------------------------------
SPEC_MAX_BYTES = env_int("SPEC_MAX_BYTES", 20 * 1024 * 1024, minimum=1024)
# A spec sent as a JSON string grows with escaping; leave room for that.
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", 2 * SPEC_MAX_BYTES + 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000
CREDENTIALS_ENCRYPTION_KEYS = env_list("CREDENTIALS_ENCRYPTION_KEYS")
CREDENTIALS_KEY_PATH = DATA_DIR / "credentials_key"
OUTBOUND_ALLOW_PRIVATE = env_bool("OUTBOUND_ALLOW_PRIVATE", False)
# Narrower than OUTBOUND_ALLOW_PRIVATE: CIDRs exempt from the address guard (e.g. 127.0.0.1/32).
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS")
for _network in OUTBOUND_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"OUTBOUND_ALLOWED_NETWORKS: {_network!r} is not a CIDR like 10.0.0.0/8"
        ) from None
OUTBOUND_CONNECT_TIMEOUT = env_float("OUTBOUND_CONNECT_TIMEOUT", 5.0, minimum=0.1)
OUTBOUND_TIMEOUT = env_float("OUTBOUND_TIMEOUT", 30.0, minimum=0.1)
OUTBOUND_MAX_RESPONSE_BYTES = env_int("OUTBOUND_MAX_RESPONSE_BYTES", 10 * 1024 * 1024, minimum=1024)
# Test-only: a PEM file of one more certificate authority trusted for outbound TLS (tests serve
# HTTPS on loopback with a throwaway CA). Never set in production: it widens who may pose as any
# https origin Specgate contacts.
OUTBOUND_EXTRA_CA_FILE = env_str("OUTBOUND_EXTRA_CA_FILE") or None
if OUTBOUND_EXTRA_CA_FILE is not None and not Path(OUTBOUND_EXTRA_CA_FILE).is_file():
    raise ImproperlyConfigured(f"OUTBOUND_EXTRA_CA_FILE: {OUTBOUND_EXTRA_CA_FILE!r} is not a file")
# Client ID Metadata Documents (OAuth clients identified by an https URL): the fetch's limits,
# and how long a fetched document is trusted. A Cache-Control max-age from the client's host is
# honoured within [MIN, MAX]; without one the document is kept for CLIENT_METADATA_CACHE_SECONDS.
CLIENT_METADATA_MAX_BYTES = env_int("CLIENT_METADATA_MAX_BYTES", 5120, minimum=512)
CLIENT_METADATA_TIMEOUT = env_float("CLIENT_METADATA_TIMEOUT", 5.0, minimum=0.1)
CLIENT_METADATA_CACHE_SECONDS = env_int("CLIENT_METADATA_CACHE_SECONDS", 300, minimum=0)
CLIENT_METADATA_CACHE_MIN_SECONDS = env_int("CLIENT_METADATA_CACHE_MIN_SECONDS", 60, minimum=0)
CLIENT_METADATA_CACHE_MAX_SECONDS = env_int("CLIENT_METADATA_CACHE_MAX_SECONDS", 86_400, minimum=0)
if not (
    CLIENT_METADATA_CACHE_MIN_SECONDS
    <= CLIENT_METADATA_CACHE_SECONDS
    <= CLIENT_METADATA_CACHE_MAX_SECONDS
):
    raise ImproperlyConfigured(
        "CLIENT_METADATA_CACHE_SECONDS must lie between CLIENT_METADATA_CACHE_MIN_SECONDS "
        "and CLIENT_METADATA_CACHE_MAX_SECONDS"
    )
TOOL_TEST_WAIT_SECONDS = env_float("TOOL_TEST_WAIT_SECONDS", 30.0, minimum=0.0)
TOOL_DESCRIPTION_MAX = env_int("TOOL_DESCRIPTION_MAX", 1024, minimum=32)
# Tool schemas are compacted to these budgets at conversion; the defaults are the engine's own.
TOOL_SCHEMA_MAX_DEPTH = env_int("TOOL_SCHEMA_MAX_DEPTH", DEFAULT_BUDGETS.max_depth, minimum=0)
TOOL_INPUT_SCHEMA_MAX_BYTES = env_int(
    "TOOL_INPUT_SCHEMA_MAX_BYTES", DEFAULT_BUDGETS.max_input_bytes, minimum=256
)
TOOL_OUTPUT_SCHEMA_MAX_BYTES = env_int(
    "TOOL_OUTPUT_SCHEMA_MAX_BYTES", DEFAULT_BUDGETS.max_output_bytes, minimum=0
)
# A JSON tool result larger than this is shortened structurally (arrays cut, counted).
TOOL_RESULT_JSON_MAX_BYTES = env_int("TOOL_RESULT_JSON_MAX_BYTES", 100_000, minimum=1024)
LOG_RETENTION_DAYS = env_int("LOG_RETENTION_DAYS", 90, minimum=1)
# PostgreSQL: daily request-log partitions kept ready beyond today (usage/partitions.py).
LOG_PARTITIONS_AHEAD_DAYS = env_int("LOG_PARTITIONS_AHEAD_DAYS", 7, minimum=1)
PUBLIC_IP_RPM = env_int("PUBLIC_IP_RPM", 120, minimum=1)
# Per-caller requests per minute on shared servers (each user's grant), besides the owner's.
SHARED_CALLER_RPM = env_int("SHARED_CALLER_RPM", 60, minimum=1)
RATE_LIMIT_KEY_PREFIX = env_str("RATE_LIMIT_KEY_PREFIX", "sg:rl:")
USAGE_FLUSH_SECONDS = env_float("USAGE_FLUSH_SECONDS", 0.5, minimum=0.05)
USAGE_FLUSH_BATCH = env_int("USAGE_FLUSH_BATCH", 1000, minimum=1)
USAGE_BUFFER_MAX = env_int("USAGE_BUFFER_MAX", 100_000, minimum=100)
USAGE_STATE_CACHE_SECONDS = env_float("USAGE_STATE_CACHE_SECONDS", 2.0, minimum=0.0)
# A gateway worker reloads a server it has held this long even if no service said it changed.
GATEWAY_SNAPSHOT_MAX_AGE_SECONDS = env_float("GATEWAY_SNAPSHOT_MAX_AGE_SECONDS", 60.0, minimum=1.0)
# A server in toolMode "auto" serves the dynamic mode's three meta-tools when the full
# tools/list of its enabled tools is estimated (bytes / 4) above this many tokens.
TOOLS_DYNAMIC_TOKEN_BUDGET = env_int("TOOLS_DYNAMIC_TOKEN_BUDGET", 30_000, minimum=0)
# Failed admin logins per (client address, username) before the login refuses to check more.
ADMIN_LOGIN_MAX_FAILURES = env_int("ADMIN_LOGIN_MAX_FAILURES", 5, minimum=1)
ADMIN_LOGIN_LOCKOUT_SECONDS = env_int("ADMIN_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)

# --- DRF and schema ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.BearerAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    # OPTIONS is not part of the API: 405 rather than DRF's metadata description.
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_PAGINATION_CLASS": "core.pagination.CursorPagination",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["usage.throttling.PlanRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.EnvelopeAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Specgate API",
    "DESCRIPTION": (
        "Turn OpenAPI specs into hosted MCP servers. Every response is wrapped in the "
        "envelope {success, data} or {success: false, error: {code, message, details}}."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "CAMELIZE_NAMES": False,
    "SCHEMA_PATH_PREFIX": "/api",
    # Keep enums inline: the envelope's `success` enums would otherwise collide by name.
    "POSTPROCESSING_HOOKS": [],
}

# --- i18n, static ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request until collectstatic ran
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_SECURE = PUBLIC_BASE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if SESSION_COOKIE_SECURE:
    # Host-only, secure, path "/": no subdomain or plain-HTTP page can set or overwrite them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
# The state of an upstream account link in progress (authz.upstream); `__Host-` needs HTTPS.
UPSTREAM_LINK_COOKIE_NAME = "__Host-upstream-link" if SESSION_COOKIE_SECURE else "upstream-link"
# Only behind a proxy the operator vouches for: otherwise any client could claim HTTPS.
TRUSTED_PROXY = env_bool("TRUSTED_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY else None
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)

# --- Observability (README: "Observability") --------------------------------------
# One JSON object per line for a log collector wherever the product runs on PostgreSQL (a
# deployment); plain text on the embedded default, which is a developer's terminal.
LOG_FORMAT = env_choice("LOG_FORMAT", "json" if DATABASE_URL else "text", ("json", "text"))
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
# /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404 and
# no metric is kept.
METRICS_TOKEN = env_str("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters")

TESTING = "pytest" in sys.modules
