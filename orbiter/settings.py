"""Django settings. Everything comes from environment variables with safe defaults.

ORBITER_MODE           server (default) | standalone | test. Standalone and test may run
                       without ORBITER_SECRET_KEY (they generate one into
                       ORBITER_DATA_DIR/secret_key, mode 0600); server refuses to start without it.
ORBITER_SECRET_KEY     Django secret key (or ORBITER_SECRET_KEY_FILE: a file holding it).
ORBITER_DATABASE_URL   default: SQLite file in ORBITER_DATA_DIR (~/.orbiter).
ORBITER_BROKER_URL     Celery broker; default redis://127.0.0.1:6379/0 (memory:// in standalone).
ORBITER_ALLOWED_HOSTS  comma separated; default localhost,127.0.0.1 ("*" in standalone).
ORBITER_DEBUG          1 to turn Django's debug pages on (never in production).
ORBITER_SWEEP_SECONDS  how often the sweeper re-advances deployments (default 2).
HTTPS behind a proxy: ORBITER_SECURE_COOKIES, ORBITER_HSTS_SECONDS, ORBITER_PROXY_SSL_HEADER,
ORBITER_CSRF_TRUSTED_ORIGINS, ORBITER_SECURE_SSL_REDIRECT (orbiter/core/https_settings.py,
docs/tls.md). Sign-in throttling: ORBITER_SIGNIN_FAILURE_LIMIT, ORBITER_SIGNIN_COOLOFF_MINUTES.
ORBITER_LOG_FORMAT     json (default in server mode) or plain; ORBITER_LOG_LEVEL (INFO).
ORBITER_STATIC_ROOT    only for a front web server serving /static/ (fill it with `orbiter
                       collectstatic`); `orbiter web` serves them from the packages without it.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from orbiter.bus.credentials import CONTROL_PLANE_USER, broker_password, read_secret


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _flag(name: str, default: bool = False) -> bool:
    value = _env(name)
    if not value:
        return default
    return value.lower() in ("1", "true", "yes", "on")


MODE = _env("ORBITER_MODE", "server")
if MODE not in ("server", "standalone", "test"):
    raise ImproperlyConfigured(f"ORBITER_MODE={MODE!r}; allowed: server, standalone, test")
STANDALONE = MODE == "standalone"

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(_env("ORBITER_DATA_DIR") or Path.home() / ".orbiter")


def _secret_key() -> str:
    if _env("ORBITER_SECRET_KEY"):
        return _env("ORBITER_SECRET_KEY")
    if _env("ORBITER_SECRET_KEY_FILE"):
        return Path(_env("ORBITER_SECRET_KEY_FILE")).read_text().strip()
    if MODE in ("standalone", "test"):
        # Generated into the data directory on first start (0600), reused after.
        from orbiter.core.secret_key import SecretKeyError, secret_key_ensure

        try:
            return secret_key_ensure(DATA_DIR)
        except (SecretKeyError, OSError) as error:
            raise ImproperlyConfigured(f"secret key: {error}") from None
    raise ImproperlyConfigured(
        "ORBITER_SECRET_KEY (or ORBITER_SECRET_KEY_FILE) is required in server mode"
    )


SECRET_KEY = _secret_key()
DEBUG = _flag("ORBITER_DEBUG")
ALLOWED_HOSTS = [
    h.strip()
    for h in _env("ORBITER_ALLOWED_HOSTS", "*" if STANDALONE else "localhost,127.0.0.1").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    # First: its createsuperuser (validating a password given by environment variable too)
    # takes precedence over django.contrib.auth's.
    "orbiter.accounts",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "orbiter.core",
    "orbiter.audit",
    "orbiter.catalog",
    "orbiter.api",
    "orbiter.loadbalancers",
    "orbiter.converge",
    "orbiter.deployments",
    "orbiter.pipelines",
    "orbiter.notifications",
    "orbiter.sources",
    "orbiter.inventory",
    "orbiter.fleet",
    "orbiter.metrics",
    "orbiter.puppet",
    "orbiter.web",
    "csp",
    "axes",  # sign-in throttling (orbiter/accounts/signin.py)
    "django_htmx",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (CONTENT_SECURITY_POLICY below)
    "orbiter.web.middleware.RefuseNulMiddleware",  # 400 for a NUL in path, parameters, headers
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files (htmx, CSS) without a separate server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "orbiter.audit.middleware.AuditContextMiddleware",  # actor's source IP on every Event
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # a locked-out sign-in gets 429 (orbiter/accounts/signin.py)
]

# --- HTTPS behind a reverse proxy (docs/tls.md) and the Content-Security-Policy ----------
from orbiter.core.https_settings import https_settings  # noqa: E402

globals().update(https_settings(os.environ))

# The UI loads only its own scripts and styles (htmx, orbiter.css): no inline script or
# style="" (progress bars are SVGs), no eval (htmx's allowEval is off, see base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

ROOT_URLCONF = "orbiter.urls"
WSGI_APPLICATION = "orbiter.wsgi.application"

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


def _database() -> dict:
    url = _env("ORBITER_DATABASE_URL")
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / 'orbiter.sqlite3'}"
    # Connections live a minute; one broken meanwhile (a database restart) is noticed by the
    # health check at the start of the next request or task, and replaced.
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # One writer at a time, taken at BEGIN: the in-process worker threads then queue
        # for the write lock instead of failing with "database is locked" on upgrade.
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        config["CONN_MAX_AGE"] = 0
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every way a password is set (createsuperuser, changepassword, the admin, `orbiter`
# commands) runs these: at least 12 characters, not a common one, not all digits, not the
# user name.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in, roles, audit, REST API (see docs/api.md) -----------------------------------
from orbiter.accounts.auth_config import auth_settings  # noqa: E402

_auth = auth_settings(os.environ)  # LDAP / OIDC switched on by ORBITER_LDAP_URI / ORBITER_OIDC_CLIENT_ID
# The throttle comes first: a locked-out account or address is refused before any backend
# (local, LDAP, OIDC) checks a password.
AUTHENTICATION_BACKENDS = ["orbiter.accounts.signin.SignInThrottle", *_auth.pop("AUTHENTICATION_BACKENDS")]
INSTALLED_APPS += _auth.pop("EXTRA_INSTALLED_APPS")
globals().update(_auth)

# The role every active signed-in user has where no binding gives more ("" for none).
ORBITER_DEFAULT_ROLE = _env("ORBITER_DEFAULT_ROLE", "viewer")
if ORBITER_DEFAULT_ROLE not in ("", "viewer", "deployer", "approver", "admin"):
    raise ImproperlyConfigured(
        f"ORBITER_DEFAULT_ROLE={ORBITER_DEFAULT_ROLE!r}; allowed: viewer, deployer, approver, admin or empty"
    )
# Reverse proxies whose X-Forwarded-For the audit trail believes (comma separated IPs).
ORBITER_TRUSTED_PROXIES = [p.strip() for p in _env("ORBITER_TRUSTED_PROXIES").split(",") if p.strip()]

# Sign-in throttling (django-axes): this many failures for one account, or from one client
# address (API tokens included), lock further attempts out for the cool-off; a success
# resets the account's count.
AXES_FAILURE_LIMIT = int(_env("ORBITER_SIGNIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(_env("ORBITER_SIGNIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = "orbiter.accounts.signin.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "orbiter.accounts.signin.client_address"
AXES_LOCKOUT_CALLABLE = "orbiter.accounts.signin.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Attempts refused during a lockout neither count nor extend it: the cool-off is what it says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = False  # its pages delete rows unaudited: orbiter/accounts/admin.py shows them read-only

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orbiter.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "orbiter.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "orbiter.api.errors.exception_handler",
    # JSON bounded in depth and free of NUL (orbiter/api/parsers.py); forms as DRF's defaults.
    "DEFAULT_PARSER_CLASSES": [
        "orbiter.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Orbiter API",
    "DESCRIPTION": "Deployments, approvals, locks, freezes and the audit trail. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files come from drf-spectacular-sidecar, served by us: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DeploymentStatusEnum": "orbiter.deployments.states.DEPLOYMENT_STATUSES",
        "HostStatusEnum": "orbiter.deployments.states.HOST_STATUSES",
        # Two choice fields are named `kind`: a fleet file's kinds and a freeze's.
        "FleetKindEnum": "orbiter.fleet.schema.KINDS",
        "FreezeKindEnum": ["once", "weekly"],
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
# WhiteNoise serves the apps' static files straight from the installed packages (htmx comes
# from django-htmx), so standalone and `orbiter web` need no collectstatic step. STATIC_ROOT
# is only for a front web server that serves /static/ itself (`orbiter collectstatic` fills
# it); unset, WhiteNoise looks for no such directory (it warned "No directory at …" on every
# start when the default pointed at one nobody had made).
STATIC_ROOT = _env("ORBITER_STATIC_ROOT") or None
WHITENOISE_USE_FINDERS = True

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = _env("ORBITER_BROKER_URL", "memory://" if STANDALONE else "redis://127.0.0.1:6379/0")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
# Tasks are short (advance a deployment, record a result). A message a killed worker held
# comes back after this many seconds; the sweeper covers the gap before that.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(_env("ORBITER_VISIBILITY_TIMEOUT", "60"))}
if CELERY_BROKER_URL.startswith("memory://"):
    # The in-process broker of standalone mode polls; its default (1 s) would pace every step.
    CELERY_BROKER_TRANSPORT_OPTIONS["polling_interval"] = 0.01
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# No restart or outage of the broker, however long, may end a worker: retry for ever (Celery
# gives up after 100 attempts by default, ~50 min), 2 s apart at first, then up to 30 s.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Tasks are idempotent; a task acknowledged late is cancelled on connection loss (it comes
# back from the broker) - and Celery stops warning about the coming default at each loss.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport, made to survive a Redis restart: see orbiter/core/broker.py.
    CELERY_BROKER_TRANSPORT = "orbiter.core.broker:Transport"
# Celery's Django fixup closes the database connection before and after every task unless
# this is set; it then closes it only every this-many tasks. A new PostgreSQL connection
# costs ~6 ms, more than a whole engine round's queries. Between tasks the worker instead
# applies Django's own rules (CONN_MAX_AGE, CONN_HEALTH_CHECKS), as for a web request: see
# orbiter/celery.py.
CELERY_DB_REUSE_MAX = 1000
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat's scheduler, beating the scheduler's liveness on each tick (orbiter/celery.py).
CELERY_BEAT_SCHEDULER = "orbiter.celery:LivenessScheduler"

# --- Puppet ---------------------------------------------------------------------------
# Bearer token Puppet's ENC script sends to GET /puppet/enc/<certname> (required in server mode).
ORBITER_ENC_TOKEN = _env("ORBITER_ENC_TOKEN") or (
    Path(_env("ORBITER_ENC_TOKEN_FILE")).read_text().strip() if _env("ORBITER_ENC_TOKEN_FILE") else ""
)

# --- Agents and the bus ----------------------------------------------------------------
# memory:// (one process) or stomp://host:61613[,stomp://other:61613] (ActiveMQ, failover).
ORBITER_BUS_URL = _env("ORBITER_BUS_URL", "stomp://127.0.0.1:61613" if MODE == "server" else "memory://")
# The broker secret (docs/agents.md, "The broker"): every broker password derives from it, the
# control plane's own (user orbiter_control_plane unless ORBITER_STOMP_USER says otherwise) and
# each agent's (`orbiter agents broker-password CERTNAME`). An explicit password wins.
ORBITER_STOMP_SECRET_FILE = _env("ORBITER_STOMP_SECRET_FILE")
ORBITER_STOMP_USER = _env("ORBITER_STOMP_USER", CONTROL_PLANE_USER if ORBITER_STOMP_SECRET_FILE else "")
ORBITER_STOMP_PASSWORD = _env("ORBITER_STOMP_PASSWORD") or (
    Path(_env("ORBITER_STOMP_PASSWORD_FILE")).read_text().strip() if _env("ORBITER_STOMP_PASSWORD_FILE") else ""
) or (broker_password(read_secret(ORBITER_STOMP_SECRET_FILE), ORBITER_STOMP_USER)
      if ORBITER_STOMP_SECRET_FILE and ORBITER_STOMP_USER else "")
# The control plane's Ed25519 private key (PEM, mode 0600): it signs every agent request.
ORBITER_SIGNING_KEY_FILE = _env("ORBITER_SIGNING_KEY_FILE", str(DATA_DIR / "control-plane.key"))

# A converge that failed because Puppet's ENC could not reach Orbiter (its web down or
# restarting: an outage of the control plane, not the host's fault) is retried without using
# up the host's attempt for this long after the step started; after that it counts.
ORBITER_ENC_OUTAGE_SECONDS = float(_env("ORBITER_ENC_OUTAGE_SECONDS", "900"))

# A header a fronting TLS proxy sets to the client certificate's CN; when it names the node
# asked for, the ENC answers without the token.
ORBITER_ENC_CERT_HEADER = _env("ORBITER_ENC_CERT_HEADER")

# --- Engine ---------------------------------------------------------------------------
ORBITER_SWEEP_SECONDS = float(_env("ORBITER_SWEEP_SECONDS", "2"))
# A deployment nobody advanced for this long is advanced by the sweeper regardless.
ORBITER_STALE_SECONDS = float(_env("ORBITER_STALE_SECONDS", "15"))
# /healthz: a scheduler, worker or listener whose last beat is older than this is not live.
ORBITER_LIVENESS_STALE_SECONDS = float(_env("ORBITER_LIVENESS_STALE_SECONDS", "60"))

# --- Pipelines --------------------------------------------------------------------------
# A pipeline run blocked by a lock (or too few healthy hosts) asks again this often; a
# freeze is asked again when it ends.
ORBITER_PIPELINE_RETRY_SECONDS = float(_env("ORBITER_PIPELINE_RETRY_SECONDS", "15"))
# Gate attempts go to this Celery queue when set (run `orbiter worker -Q <name>` for it):
# long gates then never hold the workers that advance deployments. Default: the main queue.
ORBITER_GATE_QUEUE = _env("ORBITER_GATE_QUEUE")
# The pipelines' sweeper (lost gate tasks, expired gate leases, blocked runs) runs every
# ORBITER_SWEEP_SECONDS with the deployments' one: see orbiter/celery.py.

# --- Artifact sources and metrics (docs/sources.md, docs/metrics.md) -----------------------
# How often the scheduler looks for yum repositories due for a poll (each has its own interval).
ORBITER_REPO_TICK_SECONDS = float(_env("ORBITER_REPO_TICK_SECONDS", "2"))
ORBITER_REPO_TIMEOUT_S = float(_env("ORBITER_REPO_TIMEOUT_S", "30"))  # connect, and each read
ORBITER_REPO_MAX_MB = int(_env("ORBITER_REPO_MAX_MB", "256"))  # compressed primary metadata
ORBITER_REPO_MAX_XML_MB = int(_env("ORBITER_REPO_MAX_XML_MB", "2048"))  # once decompressed
# Host sources (PuppetDB): how often the scheduler looks for due ones, and PuppetDB's timeout.
ORBITER_INVENTORY_TICK_SECONDS = float(_env("ORBITER_INVENTORY_TICK_SECONDS", "10"))
ORBITER_INVENTORY_TIMEOUT_S = float(_env("ORBITER_INVENTORY_TIMEOUT_S", "30"))  # connect, and each read
# Bearer token GET /metrics requires when set (empty: /metrics is open, as Prometheus expects).
ORBITER_METRICS_TOKEN = _env("ORBITER_METRICS_TOKEN") or (
    Path(_env("ORBITER_METRICS_TOKEN_FILE")).read_text().strip() if _env("ORBITER_METRICS_TOKEN_FILE") else ""
)
ORBITER_METRICS_WINDOW_DAYS = int(_env("ORBITER_METRICS_WINDOW_DAYS", "30"))

# --- Notifications (docs/notifications.md) ----------------------------------------------
# The address users open Orbiter at: links in notifications point there.
ORBITER_BASE_URL = _env("ORBITER_BASE_URL", "http://localhost:8000").rstrip("/")
ORBITER_NOTIFY_TIMEOUT_SECONDS = float(_env("ORBITER_NOTIFY_TIMEOUT_SECONDS", "5"))
ORBITER_NOTIFY_MAX_ATTEMPTS = int(_env("ORBITER_NOTIFY_MAX_ATTEMPTS", "5"))
# Wait before attempt n+1: this × 2^(n-1) seconds (10, 20, 40, 80 by default).
ORBITER_NOTIFY_BACKOFF_SECONDS = float(_env("ORBITER_NOTIFY_BACKOFF_SECONDS", "10"))
# Email goes through Django's SMTP backend.
EMAIL_BACKEND = _env("ORBITER_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = _env("ORBITER_EMAIL_HOST", "localhost")
EMAIL_PORT = int(_env("ORBITER_EMAIL_PORT", "25"))
EMAIL_HOST_USER = _env("ORBITER_EMAIL_USER")
EMAIL_HOST_PASSWORD = _env("ORBITER_EMAIL_PASSWORD") or (
    Path(_env("ORBITER_EMAIL_PASSWORD_FILE")).read_text().strip() if _env("ORBITER_EMAIL_PASSWORD_FILE") else ""
)
EMAIL_USE_TLS = _flag("ORBITER_EMAIL_STARTTLS")
EMAIL_USE_SSL = _flag("ORBITER_EMAIL_SSL")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("ORBITER_EMAIL_STARTTLS and ORBITER_EMAIL_SSL: set one, not both")
EMAIL_TIMEOUT = ORBITER_NOTIFY_TIMEOUT_SECONDS
DEFAULT_FROM_EMAIL = _env("ORBITER_EMAIL_FROM", "orbiter@localhost")

# One format for every process and library (orbiter/core/logs.py): json or plain lines.
ORBITER_LOG_FORMAT = _env("ORBITER_LOG_FORMAT", "json" if MODE == "server" else "plain")
if ORBITER_LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"ORBITER_LOG_FORMAT={ORBITER_LOG_FORMAT!r}; allowed: json, plain")
from orbiter.core.logs import logging_config  # noqa: E402

LOGGING = logging_config(format=ORBITER_LOG_FORMAT, level=_env("ORBITER_LOG_LEVEL", "INFO"))
