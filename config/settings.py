"""Settings, read from the environment in one place.

Without DATABASE_URL and REDIS_URL this is the embedded default: an SQLite file in the
project folder and Celery tasks run eagerly in-process. With them, the real stack.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    HTTPS=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]", "testserver"]),
    REDIS_URL=(str, ""),
    DB_CONN_MAX_AGE=(int, 60),
    DATABASE_CONNECT_TIMEOUT=(int, 5),
    DATABASE_REPLICA_URL=(str, ""),
    DISABLE_SERVER_SIDE_CURSORS=(bool, False),
    REPORT_DEBOUNCE_SECONDS=(int, 30),
)

DEBUG: bool = env("DEBUG")
#: Keys anyone can read (this file, earlier docker-compose.yml files): fine for a local
#: demo with DEBUG on, refused otherwise, since they let anyone forge sessions.
PUBLIC_SECRET_KEYS = (
    "django-insecure-embedded-default-only-never-use-in-production-8d1f0c2a",
    "change-me-in-production-please-0123456789",
)
SECRET_KEY: str = env("SECRET_KEY", default="") or (PUBLIC_SECRET_KEYS[0] if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY in PUBLIC_SECRET_KEYS):
    raise ImproperlyConfigured(
        "SECRET_KEY is missing or is a published example key, and DEBUG is off. Set "
        "SECRET_KEY to a long random value (python -c 'import secrets; "
        "print(secrets.token_urlsafe(50))'), or set DEBUG=true for local development only."
    )
ALLOWED_HOSTS: list[str] = env("ALLOWED_HOSTS")
HTTPS: bool = env("HTTPS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "django_prometheus",
    "annotation",
    "api",
]

MIDDLEWARE = [
    # First and last: django-prometheus times every request (README, Observability).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # The request id, user and project on every log line of the request (README, Observability).
    "ops.request_log.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A JSON 413 for an API body over MAX_IMPORT_BYTES, before anything reads it.
    "api.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The annotator pages' language (project, annotator's choice, Accept-Language); outside
    # the session and messages middleware, so a message is put into words in that language.
    "annotation.i18n.AnnotatorLanguageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A domain error a page view leaves unanswered: the page its class maps to.
    "annotation.error_pages.DomainErrorMiddleware",
    # A view that meets an unreachable database answers 503 (api.handlers), not 500.
    "api.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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


def database(url_variable: str, default: str | None = None) -> dict:
    """One DATABASES entry from a URL in the environment, with the connection settings every
    entry shares (README, Configuration and Running at scale)."""
    entry = env.db(url_variable, default=default)
    if entry["ENGINE"] == "django.db.backends.postgresql":
        entry["CONN_MAX_AGE"] = env("DB_CONN_MAX_AGE")
        entry["CONN_HEALTH_CHECKS"] = True
        # A database that hangs rather than refusing gives up after this, not the OS's TCP
        # timeout.
        entry.setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env("DATABASE_CONNECT_TIMEOUT")
        )
        # PgBouncer in transaction mode: a server-side cursor would outlive the transaction
        # that declared it, on a server connection another client may then hold.
        entry["DISABLE_SERVER_SIDE_CURSORS"] = env("DISABLE_SERVER_SIDE_CURSORS")
    else:
        # WAL and a busy timeout let the dev server and an eager task share the file.
        entry.setdefault("OPTIONS", {}).update(
            {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
        )
    # django-prometheus's wrappers of the same backends count queries, errors and durations.
    entry["ENGINE"] = entry["ENGINE"].replace(
        "django.db.backends.", "django_prometheus.db.backends.", 1
    )
    return entry


DATABASES = {"default": database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=None)}
# A read replica (README, Running at scale): exports, snapshot builds and report computations
# read from it (annotation.db.ReplicaRouter); every write and every other read stays on
# default. Tests read it through the test database's own connection (tests/conftest.py).
DATABASE_ROUTERS: list[str] = []
if env("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = database("DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["annotation.db.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses a sign-in while its username and address are locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Behind reverse proxies, how many: the client address is then read from
# X-Forwarded-For (sign-in lockout, throttles and crowd entry all use config.client_ip).
TRUSTED_PROXY_COUNT: int = env.int("TRUSTED_PROXY_COUNT", default=0)

# Sign-in lockout (django-axes): after AXES_FAILURE_LIMIT failed sign-ins for one username
# from one address, that pair is locked for AXES_COOLOFF_MINUTES (admin and pages alike).
AXES_FAILURE_LIMIT: int = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_address"
AXES_VERBOSE = False

LANGUAGE_CODE = "en"
#: The annotator pages' languages (annotation.models.UI_LANGUAGES), named in their own
#: language for the switcher. The console and the API stay in English.
LANGUAGES = [
    ("en", "English"),
    ("fr", "Français"),
    ("es", "Español"),
    ("de", "Deutsch"),
    ("zh-hans", "简体中文"),
    ("ar", "العربية"),
]
#: The project's own catalogues; the compiled .mo files are committed (no build step).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotation:project-list"
LOGOUT_REDIRECT_URL = "login"

# Security: plain HTTP unless HTTPS=true, which turns on the whole HTTPS set.
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
# Probes and scrapers speak plain HTTP to the process itself, behind the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# MTurk's ExternalQuestion HITs show the annotator pages in a frame on MTurk's worker site,
# which annotation.framing allows for those pages alone. Inside that cross-site frame a
# browser sends only SameSite=None cookies, so without them a worker cannot start (no CSRF
# cookie) nor stay signed in. MTURK_FRAMING=true sends the session, CSRF and language cookies
# with SameSite=None; it needs HTTPS=true, since browsers drop such cookies unless they are Secure.
# The cost: the browser then sends those cookies with requests from any site, for the whole
# site (console included), so cross-site forgery is stopped by Django's CSRF token and Origin
# check alone, no longer by SameSite too. Browsers that block third-party cookies (Safari, or
# any browser set to) still cannot work inside the frame. Off: MTurk HITs that link to the
# study (workers paste the completion code) work as before.
MTURK_FRAMING: bool = env.bool("MTURK_FRAMING", default=False)
if MTURK_FRAMING:
    if not HTTPS:
        raise ImproperlyConfigured(
            "MTURK_FRAMING needs HTTPS=true: browsers refuse the SameSite=None cookies it "
            "sets unless they are Secure."
        )
    SESSION_COOKIE_SAMESITE = "None"
    CSRF_COOKIE_SAMESITE = "None"
    LANGUAGE_COOKIE_SAMESITE = "None"
    LANGUAGE_COOKIE_SECURE = True

# Content-Security-Policy (django-csp): the site's own scripts, styles and media only.
# Media in responses may also come from MEDIA_HOSTS (and each project's `media_hosts`,
# added to the policy of the pages that show them); elsewhere they are shown as links.
MEDIA_HOSTS: list[str] = env.list("MEDIA_HOSTS", default=[])
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *MEDIA_HOSTS],
        "media-src": [SELF, *MEDIA_HOSTS],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# API request bodies (an import of items or judgments) up to this size are read; a larger one
# is a JSON 413 before it is read. Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) still bounds
# form posts: the API's parsers read the body themselves.
MAX_IMPORT_BYTES: int = env.int("MAX_IMPORT_BYTES", default=256 * 1024 * 1024)
# An import of items or judgments with more rows than this runs as an import job in a worker
# (the request answers 202 with the job); smaller ones run within the request.
IMPORT_ASYNC_ROWS: int = env.int("IMPORT_ASYNC_ROWS", default=5000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.AnnotatorTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "api.authentication.AnonymousThrottling",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "api.browsable.BrowsableAPI",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.IdCursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.json_exception_handler",
    # JSON only (README "REST API"): a form body is a 415, never half read. The imports add JSON
    # Lines (api.views.items, api.views.judgments).
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    # Anonymous traffic and failed tokens are throttled by address; signed-in users are not
    # unless API_USER_RATE is set (bulk voting and pipelines must not meet a 429 by default).
    # (anonymous requests are counted by api.authentication.AnonymousThrottling).
    "DEFAULT_THROTTLE_CLASSES": (
        ["api.throttling.SignedInThrottle"] if env("API_USER_RATE", default="") else []
    ),
    "DEFAULT_THROTTLE_RATES": {
        "anonymous": env("API_ANON_RATE", default="120/min"),
        "signed_in": env("API_USER_RATE", default="") or None,
        "failed_token": env("API_FAILED_TOKEN_RATE", default="20/min"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    # `format` names the export shape (README "Exports"), not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "prefpanel API",
    "DESCRIPTION": "Projects, items, annotator tasks, judgments and preference-data exports.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # A project's rationale and rewrite settings share one choice set: one enum names both.
    "ENUM_NAME_OVERRIDES": {
        "OffOptionalRequiredEnum": "annotation.models.Project.Rationale",
        "JudgeRunStatusEnum": "annotation.models.JudgeRun.Status",
        "JudgeRunStoppedEnum": "annotation.models.JudgeRun.Stop",
    },
    # The schema documents how to sign in; the anonymous throttle signs nobody in.
    "AUTHENTICATION_WHITELIST": [
        "api.authentication.AnnotatorTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Swagger UI served from our own static files: the site works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

REDIS_URL: str = env("REDIS_URL")
# A Redis that hangs must not hang the site: the cache and the broker give up on a command or
# a connection after REDIS_TIMEOUT_SECONDS, and on the vote path a failure opens a circuit
# breaker (annotation.breaker) that skips Redis for REDIS_BREAKER_SECONDS.
REDIS_TIMEOUT_SECONDS: float = env.float("REDIS_TIMEOUT_SECONDS", default=0.5)
REDIS_BREAKER_SECONDS: float = env.float("REDIS_BREAKER_SECONDS", default=10.0)
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
}
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One queue per kind of work (README, Running at scale), so a long snapshot build never delays
# a statistics refresh when workers are given -Q. Every queue is declared, so a plain
# `celery -A config worker` (no -Q) still consumes all of them.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES_BY_KIND = {
    "reports": ("report_refresh", "reports_refresh_active", "group_figures_warm"),
    "snapshots": ("snapshot_build", "snapshots_requeue_pending"),
    "imports": ("import_job_run", "import_jobs_requeue_pending"),
    "webhooks": ("webhook_deliver", "webhook_batch", "webhooks_requeue_pending"),
    # An arena turn holds its worker for as long as two models take to answer.
    "arena": ("arena_turn_generate", "arena_prompt_admissions_prune"),
    "judges": ("judge_run", "judge_runs_requeue_pending"),
}
CELERY_TASK_ROUTES = {
    f"annotation.tasks.{task}": {"queue": queue}
    for queue, tasks in CELERY_TASK_QUEUES_BY_KIND.items()
    for task in tasks
}
CELERY_TASK_QUEUES = [
    Queue(name) for name in (CELERY_TASK_DEFAULT_QUEUE, *CELERY_TASK_QUEUES_BY_KIND)
]
REPORT_DEBOUNCE_SECONDS: int = env("REPORT_DEBOUNCE_SECONDS")
# A report refresh or snapshot build that finds another worker on the same project or snapshot
# tries again this much later.
WORKER_BUSY_RETRY_SECONDS: int = env.int("WORKER_BUSY_RETRY_SECONDS", default=5)
# Beat queues again the build of a snapshot (or the run of an import job) still pending this
# long after it was asked for.
SNAPSHOT_REQUEUE_AFTER_SECONDS: int = env.int("SNAPSHOT_REQUEUE_AFTER_SECONDS", default=600)
# A snapshot build taken this long ago that no worker holds any more (its worker was killed)
# is queued again by beat (README, When services fail).
SNAPSHOT_CLAIM_TIMEOUT_SECONDS: int = env.int("SNAPSHOT_CLAIM_TIMEOUT_SECONDS", default=120)
# Webhooks (README, Webhooks): a URL resolving to a private, loopback or link-local address
# is refused, at creation and at each delivery, unless WEBHOOK_ALLOW_PRIVATE is true.
WEBHOOK_ALLOW_PRIVATE: bool = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_TIMEOUT_SECONDS: float = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# A failed delivery is tried again with exponential backoff (30 s, 60 s, ... at most an
# hour apart) until this many hours after its first attempt.
WEBHOOK_RETRY_HOURS: int = env.int("WEBHOOK_RETRY_HOURS", default=24)
# judgments.batch is posted at most once in this many seconds per webhook.
WEBHOOK_BATCH_SECONDS: int = env.int("WEBHOOK_BATCH_SECONDS", default=60)
# An attempt still pending this long after it was due (its Celery message lost to a broker
# that was down or flushed, or its worker killed mid-post) is queued again by beat.
WEBHOOK_REQUEUE_AFTER_SECONDS: int = env.int("WEBHOOK_REQUEUE_AFTER_SECONDS", default=120)
# Model endpoints (README, Model endpoints): API keys are stored Fernet-encrypted under keys
# derived from ENDPOINT_KEYS_SECRET (comma-separated: the first encrypts, all decrypt), or
# from SECRET_KEY and SECRET_KEY_FALLBACKS when it is unset.
ENDPOINT_KEYS_SECRET: str = env.str("ENDPOINT_KEYS_SECRET", default="")
# A base_url resolving to a private, loopback or link-local address (a local model server)
# is refused, at creation and at each call, unless ARENA_ALLOW_PRIVATE is true.
ARENA_ALLOW_PRIVATE: bool = env.bool("ARENA_ALLOW_PRIVATE", default=False)
ENDPOINT_CONNECT_TIMEOUT_SECONDS: float = env.float("ENDPOINT_CONNECT_TIMEOUT_SECONDS", default=5.0)
# The longest wait for the next bytes of an answer (not for the whole answer: a streamed
# generation may take longer, as long as it keeps sending).
ENDPOINT_READ_TIMEOUT_SECONDS: float = env.float("ENDPOINT_READ_TIMEOUT_SECONDS", default=60.0)
# A call that fails twice (it is retried once) marks its endpoint unhealthy this long.
ENDPOINT_UNHEALTHY_SECONDS: int = env.int("ENDPOINT_UNHEALTHY_SECONDS", default=300)
# Without a broker (eager Celery), an arena turn's answers are generated in a background
# thread of the web process, so the request that took the prompt does not wait for them.
ARENA_EAGER_THREAD: bool = env.bool("ARENA_EAGER_THREAD", default=True)
# A judge run stops (failed, the rest of its tasks left to a later run) after this many
# tasks in a row whose calls failed: a dead endpoint is not called for every task.
JUDGE_MAX_FAILURES_IN_A_ROW: int = env.int("JUDGE_MAX_FAILURES_IN_A_ROW", default=10)
# A running judge run whose worker has not recorded a task (nor taken the run) for this long
# is queued again by beat (README, Judge runs): its worker died, or is stuck on one task (the
# job queued again then finds the run locked and ends).
JUDGE_RUN_CLAIM_TIMEOUT_SECONDS: int = env.int("JUDGE_RUN_CLAIM_TIMEOUT_SECONDS", default=300)
# A judge call's slot among the endpoint's `concurrency` shared through Redis is leased for
# this long, renewed while the call lasts: a worker killed mid-call frees it this much later.
JUDGE_SLOT_LEASE_SECONDS: float = env.float("JUDGE_SLOT_LEASE_SECONDS", default=30.0)
# Without a broker (eager Celery), a judge run is done in a background thread of the web
# process, so the request that started it does not wait for every model call.
JUDGE_EAGER_THREAD: bool = env.bool("JUDGE_EAGER_THREAD", default=True)
# Routing to people (README, LLM judges): a verdict whose stated confidence is below this,
# or whose samples agree less than the second, leaves its task to people.
JUDGE_ROUTE_MIN_CONFIDENCE: float = env.float("JUDGE_ROUTE_MIN_CONFIDENCE", default=0.6)
JUDGE_ROUTE_MIN_AGREEMENT: float = env.float("JUDGE_ROUTE_MIN_AGREEMENT", default=0.75)
CELERY_BEAT_SCHEDULE = {
    "refresh-stale-reports": {
        "task": "annotation.tasks.reports_refresh_active",
        "schedule": env.int("REPORT_BEAT_SECONDS", default=600),
    },
    "requeue-pending-snapshots": {
        "task": "annotation.tasks.snapshots_requeue_pending",
        "schedule": env.int("SNAPSHOT_BEAT_SECONDS", default=60),
    },
    "requeue-pending-import-jobs": {
        "task": "annotation.tasks.import_jobs_requeue_pending",
        "schedule": env.int("SNAPSHOT_BEAT_SECONDS", default=60),
    },
    "requeue-unfinished-judge-runs": {
        "task": "annotation.tasks.judge_runs_requeue_pending",
        "schedule": env.int("SNAPSHOT_BEAT_SECONDS", default=60),
    },
    "prune-arena-prompt-admissions": {
        "task": "annotation.tasks.arena_prompt_admissions_prune",
        "schedule": env.int("ARENA_PRUNE_BEAT_SECONDS", default=600),
    },
    "requeue-pending-webhook-deliveries": {
        "task": "annotation.tasks.webhooks_requeue_pending",
        "schedule": env.int("WEBHOOK_BEAT_SECONDS", default=60),
    },
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# LOG_FORMAT=json: one JSON object a line, each with the request id (README, Observability).
LOG_FORMAT: str = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(levelname)s %(name)s %(message)s"},
        "json": {"()": "ops.request_log.json_formatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}

# /metrics answers these addresses or networks (comma-separated, the client address as
# TRUSTED_PROXY_COUNT gives it) and requests bearing METRICS_TOKEN; with neither it is a 404.
METRICS_ALLOWED_IPS: list[str] = env.list("METRICS_ALLOWED_IPS", default=[])
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")

if env.bool("FAST_PASSWORD_HASHER", default=False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
