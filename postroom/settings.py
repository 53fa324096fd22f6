"""One settings module, configured only by environment variables (see .env.example)."""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

from postroom.lib import datadir


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# What this process creates is its own user's alone (0700 directories, 0600 files): the
# database and its WAL/SHM files, raw mail, attachments, the secret key. Set here, the
# first module every entry point (postroom, gunicorn, celery, pytest) imports; `postroom
# run` and `worker` chmod what an older version left open, and `postroom check` warns.
datadir.restrict_umask()
DATA_DIR = Path(os.environ.get("POSTROOM_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True, mode=datadir.DIR_MODE)


def _secret_key() -> str:
    """The key from the environment, else one generated once into the data directory.

    Generated rather than defaulted so that no two installations share a key, and kept
    on disk so that sessions and encrypted mailbox passwords survive a restart.
    """
    if key := os.environ.get("POSTROOM_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = _env_bool("POSTROOM_DEBUG")
ALLOWED_HOSTS = _env_list("POSTROOM_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = _env_list("POSTROOM_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "postroom.accounts",
    "postroom.mailboxes",
    "postroom.sync",
    "postroom.mail",
    "postroom.crm",
    "postroom.routing",
    "postroom.outbound",
    "postroom.tracking",
    "postroom.web",
    "postroom.cli",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # a page that sets its own policy keeps it
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "postroom.urls"
WSGI_APPLICATION = "postroom.wsgi.application"

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
                "postroom.web.context_processors.notifications",
            ],
        },
    },
]


# Seconds a SQLite writer waits for the write lock before "database is locked".
SQLITE_BUSY_TIMEOUT = float(os.environ.get("POSTROOM_SQLITE_BUSY_TIMEOUT", "30"))


def _database() -> dict:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'postroom.sqlite3'}"
    db = dj_database_url.parse(url, conn_max_age=0 if url.startswith("sqlite") else 60)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db["OPTIONS"] = {
            # WAL lets the web server read while the sync worker writes; IMMEDIATE
            # transactions take the write lock up front instead of failing mid-way
            # with "database is locked" when two writers upgrade at once.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}; "
                "PRAGMA wal_autocheckpoint=16384;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_TIMEOUT,
        }
        # A file, not memory, so that the processes a test starts (a worker, the CLI)
        # see the same test database.
        db["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    return db


DATABASES = {"default": _database()}


def _raw_store() -> str:
    """Where raw messages are kept: "files" (pack files under the data directory) on
    SQLite, "db" (in the database) on PostgreSQL, where several machines share the
    database but not the data directory."""
    default = "files" if DATABASES["default"]["ENGINE"].endswith("sqlite3") else "db"
    value = os.environ.get("POSTROOM_RAW_STORE", "").strip().lower() or default
    if value not in {"files", "db"}:
        raise ValueError(f"POSTROOM_RAW_STORE must be 'files' or 'db', not {value!r}")
    return value


DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("POSTROOM_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # `postroom run` collects into it; whitenoise wants it
STORAGES = {
    # Raw mail and attachments; a later S3-compatible backend plugs in here.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "blobs")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Django chmods what its storages save (attachments, collected static files) to these,
# whatever the umask: 0644 by default.
FILE_UPLOAD_PERMISSIONS = datadir.FILE_MODE
FILE_UPLOAD_DIRECTORY_PERMISSIONS = datadir.DIR_MODE

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Every page's Content-Security-Policy (django-csp): scripts only from Postroom's own
# files, no inline script or on...= handler (static/web/postroom.js does what they
# did); styles may be inline (style attributes, Trix's editor styles). A page that sets
# its own, stricter policy keeps it: a message body (views._BODY_CSP: nothing runs, a
# sandbox) and served parts and raw mail (views._DATA_CSP).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],  # data: for the editor's toolbar icons
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],  # the sandboxed message bodies
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Postroom's address as people reach it, e.g. https://postroom.acme.com. Over https
# (the production settings): HSTS, Secure cookies, http redirected to https, and the host
# allowed; behind a reverse proxy that ends TLS, the proxy sets X-Forwarded-Proto (the
# header is POSTROOM_FORWARDED_PROTO_HEADER; empty: Postroom ends TLS itself).
PUBLIC_URL = os.environ.get("POSTROOM_PUBLIC_URL", "").strip().rstrip("/")
_public = urlsplit(PUBLIC_URL)
if PUBLIC_URL and not (_public.scheme in {"http", "https"} and _public.hostname):
    raise ValueError(f"POSTROOM_PUBLIC_URL must be http(s)://host[:port], not {PUBLIC_URL!r}")
HTTPS = _public.scheme == "https"
if _public.hostname and _public.hostname not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public.hostname)
if HTTPS and f"https://{_public.netloc}" not in CSRF_TRUSTED_ORIGINS:
    CSRF_TRUSTED_ORIGINS.append(f"https://{_public.netloc}")
SESSION_COOKIE_SECURE = HTTPS or _env_bool("POSTROOM_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if HTTPS:
    SECURE_SSL_REDIRECT = _env_bool("POSTROOM_SSL_REDIRECT", True)
    _proto_header = os.environ.get("POSTROOM_FORWARDED_PROTO_HEADER", "X-Forwarded-Proto")
    if _proto_header.strip():
        _meta_name = "HTTP_" + _proto_header.strip().upper().replace("-", "_")
        SECURE_PROXY_SSL_HEADER = (_meta_name, "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("POSTROOM_HSTS_SECONDS", str(365 * 24 * 3600)))
    # Only hosts under Postroom's own name (*.postroom.acme.com), never its parent domain.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = _env_bool("POSTROOM_HSTS_PRELOAD")
# Preloading is a decision for a whole registrable domain (hstspreload.org), its owner's
# to take (POSTROOM_HSTS_PRELOAD), not a missing setting of Postroom's.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Jobs: the embedded database queue by default; Celery when a broker is named.
BROKER_URL = os.environ.get("POSTROOM_BROKER_URL", "")
TASKS = {
    "default": {
        "BACKEND": (
            "postroom.jobs.celery_backend.CeleryBackend"
            if BROKER_URL
            else "django_tasks_db.DatabaseBackend"
        ),
    }
}

# Celery queues are named PREFIX.QUEUE, so several installations (or test runs) can
# share one broker without taking each other's jobs.
JOBS_QUEUE_PREFIX = os.environ.get("POSTROOM_JOBS_QUEUE_PREFIX", "postroom")
CELERY_BROKER_URL = BROKER_URL
# A job is acknowledged after it ran, so a worker killed mid-job hands it to another;
# jobs are idempotent by design, so running one twice is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Seconds one run of a job may take (POSTROOM_JOB_TIME_LIMIT): every step of the path of
# an email is bounded to seconds (mail.bounds), so a job past this is stuck, not busy.
JOB_TIME_LIMIT = int(os.environ.get("POSTROOM_JOB_TIME_LIMIT", "600"))
# Celery: the soft limit raises in the job (which then runs again, ATTEMPTS in all); the
# hard one kills the worker child running code that a Python exception cannot stop.
CELERY_TASK_SOFT_TIME_LIMIT = JOB_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = JOB_TIME_LIMIT + 30

POSTROOM = {
    # Seconds a worker waits between polls of a mailbox without IDLE push.
    "POLL_INTERVAL": int(os.environ.get("POSTROOM_POLL_INTERVAL", "60")),
    # Bounded network timeouts so that a dead server never hangs a worker.
    "IMAP_TIMEOUT": float(os.environ.get("POSTROOM_IMAP_TIMEOUT", "20")),
    # IMAP servers a mailbox may be connected to from the web (the shell's `mailbox add`
    # is the administrator's own): host names (`*.acme.test` for a domain's hosts) and
    # ports, comma-separated; empty allows any.
    "IMAP_ALLOWED_HOSTS": _env_list("POSTROOM_IMAP_ALLOWED_HOSTS", ""),
    "IMAP_ALLOWED_PORTS": [int(p) for p in _env_list("POSTROOM_IMAP_ALLOWED_PORTS", "")],
    "WEB_BIND": os.environ.get("POSTROOM_WEB_BIND", "127.0.0.1:8000"),
    # Folders one worker watches at most, and threads that fetch and store for them.
    "WORKER_CAPACITY": int(os.environ.get("POSTROOM_WORKER_CAPACITY", "1000")),
    "SYNC_THREADS": int(os.environ.get("POSTROOM_SYNC_THREADS", "4")),
    # Messages per IMAP FETCH and per transaction of a sync.
    "SYNC_BATCH": int(os.environ.get("POSTROOM_SYNC_BATCH", "500")),
    # Raw messages: "files" (DATA_DIR/raw, fsynced pack files) or "db"; see _raw_store.
    "RAW_STORE": _raw_store(),
    # Seconds a worker's folder lease lasts unless renewed: how soon another worker
    # takes over the folders of a dead one.
    "LEASE_TTL": float(os.environ.get("POSTROOM_LEASE_TTL", "30")),
    # Seconds between safety-net polls of a folder whose IDLE push is up.
    "IDLE_SAFETY_POLL": float(os.environ.get("POSTROOM_IDLE_SAFETY_POLL", "900")),
    # Seconds before an IDLE is re-issued (RFC 2177: servers may drop it after 30 min).
    "IDLE_RENEW": float(os.environ.get("POSTROOM_IDLE_RENEW", str(29 * 60))),
    # The SMTP/LMTP ingress (`postroom ingress`, part of `postroom run`): HOST:PORT to
    # listen on, empty for off. Loopback by default: it takes mail for every known
    # mailbox without authentication, so expose it only behind your MTA or firewall.
    "INGRESS_BIND": os.environ.get("POSTROOM_INGRESS_BIND", "127.0.0.1:2525"),
    "INGRESS_LMTP_BIND": os.environ.get("POSTROOM_INGRESS_LMTP_BIND", ""),
    # The name in the ingress's greeting and EHLO reply (default: the host's name); a
    # PEM certificate (chain) and its key to offer STARTTLS, for an MTA on another host.
    "INGRESS_HOSTNAME": os.environ.get("POSTROOM_INGRESS_HOSTNAME", ""),
    "INGRESS_TLS_CERT": os.environ.get("POSTROOM_INGRESS_TLS_CERT", ""),
    "INGRESS_TLS_KEY": os.environ.get("POSTROOM_INGRESS_TLS_KEY", ""),
    # What one sender may cost the ingress: connections open at once (more get 421;
    # 0: no cap), seconds of silence, and seconds for the whole DATA of one message.
    "INGRESS_MAX_CONNECTIONS": int(os.environ.get("POSTROOM_INGRESS_MAX_CONNECTIONS", "100")),
    "INGRESS_IDLE_TIMEOUT": float(os.environ.get("POSTROOM_INGRESS_IDLE_TIMEOUT", "300")),
    "INGRESS_DATA_TIMEOUT": float(os.environ.get("POSTROOM_INGRESS_DATA_TIMEOUT", "600")),
    # The mail domain routed to the ingress for BCC tracker addresses
    # (track-<signed token>@INGRESS_DOMAIN, one per user, on their profile page).
    "INGRESS_DOMAIN": os.environ.get("POSTROOM_INGRESS_DOMAIN", "postroom.localhost"),
    # Bytes. The ingress refuses a bigger message with 552 (announced in EHLO SIZE);
    # IMAP sync stores only the headers of a bigger one, marked as truncated.
    "MAX_MESSAGE_SIZE": int(os.environ.get("POSTROOM_MAX_MESSAGE_SIZE", str(50 * 1024 * 1024))),
    # Outbound mail (the Outbox). Emails the organisation sends in a calendar month, and
    # per mailbox in a minute; over either, an email waits (queued), it is never dropped.
    "MONTHLY_QUOTA": int(os.environ.get("POSTROOM_MONTHLY_QUOTA", "10000")),
    "MAILBOX_RATE_PER_MINUTE": int(os.environ.get("POSTROOM_MAILBOX_RATE_PER_MINUTE", "60")),
    # Bound on every SMTP network wait, in seconds.
    "SMTP_TIMEOUT": float(os.environ.get("POSTROOM_SMTP_TIMEOUT", "30")),
    # Temporary failures are retried after SEND_RETRY_BASE seconds, doubling up to an
    # hour, SEND_MAX_ATTEMPTS times in all; then the email is marked failed.
    "SEND_MAX_ATTEMPTS": int(os.environ.get("POSTROOM_SEND_MAX_ATTEMPTS", "10")),
    "SEND_RETRY_BASE": float(os.environ.get("POSTROOM_SEND_RETRY_BASE", "60")),
    # An attempt still `sending` after this many seconds has lost its worker: it is
    # checked against the Sent folder and tried again. Far above any live attempt, whose
    # network waits are bounded by SMTP_TIMEOUT each.
    "SEND_STALE_AFTER": float(os.environ.get("POSTROOM_SEND_STALE_AFTER", "900")),
    # Mail domains of the organisation (comma-separated): mail from or between them is
    # internal and never goes to the CRM, as mail of Postroom users and mailboxes.
    "INTERNAL_DOMAINS": [
        d.strip() for d in os.environ.get("POSTROOM_INTERNAL_DOMAINS", "").split(",") if d.strip()
    ],
    # Reply deadlines: minutes before a deadline when its person is told it is near.
    "SLA_DUE_SOON_MINUTES": int(os.environ.get("POSTROOM_SLA_DUE_SOON_MINUTES", "30")),
    # Notifications by email to colleagues (each chooses on /notifications/settings/):
    # the system sender and its server, smtp://[user:pw@]host:port, smtp+starttls://...
    # or smtps://...; unset: no notification email is sent (the log says so).
    "NOTIFY_FROM": os.environ.get("POSTROOM_NOTIFY_FROM", ""),
    "NOTIFY_SMTP": os.environ.get("POSTROOM_NOTIFY_SMTP", ""),
    # Postroom's address as people reach it, for links in emails (notifications).
    "BASE_URL": os.environ.get("POSTROOM_BASE_URL") or PUBLIC_URL or "http://127.0.0.1:8000",
    # Undo-send: seconds an email written in the UI waits before its first attempt,
    # while the sender may take it back as a draft (0: sent at once, no Undo).
    "UNDO_SEND_SECONDS": float(os.environ.get("POSTROOM_UNDO_SEND_SECONDS", "10")),
    # Email tracking (README "Tracking"): the base URL of the open image and the link
    # redirects in sent mail, loads per minute one IP address may make, and the seconds
    # after delivery within which an image proxy's or a scanner's fetch is a prefetch.
    "TRACKING": _env_bool("POSTROOM_TRACKING", True),  # the organisation's switch
    "TRACKING_URL": os.environ.get("POSTROOM_TRACKING_URL")
    or PUBLIC_URL
    or os.environ.get("POSTROOM_BASE_URL")
    or "http://127.0.0.1:8000",
    "TRACKING_RATE_PER_MINUTE": int(os.environ.get("POSTROOM_TRACKING_RATE_PER_MINUTE", "300")),
    "TRACKING_PREFETCH_SECONDS": float(os.environ.get("POSTROOM_TRACKING_PREFETCH_SECONDS", "60")),
    # Days opens and clicks are kept before the hourly prune deletes them (0: for ever).
    "TRACKING_KEEP_DAYS": int(os.environ.get("POSTROOM_TRACKING_KEEP_DAYS", "180")),
    # Bytes the attachments of one email may add up to (before base64).
    "MAX_ATTACHMENTS_SIZE": int(
        os.environ.get("POSTROOM_MAX_ATTACHMENTS_SIZE", str(25 * 1024 * 1024))
    ),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("POSTROOM_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_tasks": {"level": "WARNING"},
        "django_tasks_db": {"level": "WARNING"},
    },
}

# Login security (README "Logins"): failed logins are throttled by django-axes, per
# account from one address and per address; a second factor (TOTP, django-otp) is asked
# after the password of a user who has one. Added here as one block, in order: the
# OTP middleware reads the session after authentication; axes turns a lock-out into the
# login page saying when to try again.
INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp", "postroom.twofactor"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1,
    "postroom.twofactor.middleware.SecondFactorMiddleware",
)
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
# Times in each user's own zone (their profile's, else the browser's on first login).
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "postroom.accounts.timezones.TimeZoneMiddleware",
)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out login before any check
    "django.contrib.auth.backends.ModelBackend",
]
# Failed logins (wrong passwords and wrong codes) within the cool-off that lock out: the
# same account from one IP address, and one IP address whatever the accounts.
LOGIN_FAILURES_PER_ACCOUNT = int(os.environ.get("POSTROOM_LOGIN_FAILURES_PER_ACCOUNT", "5"))
LOGIN_FAILURES_PER_IP = int(os.environ.get("POSTROOM_LOGIN_FAILURES_PER_IP", "20"))
LOGIN_COOLOFF_MINUTES = float(os.environ.get("POSTROOM_LOGIN_COOLOFF_MINUTES", "15"))
AXES_ENABLED = _env_bool("POSTROOM_LOGIN_THROTTLE", True)
AXES_VERBOSE = False  # no banner on every start of a `postroom` command
AXES_HANDLER = "postroom.accounts.throttle.LoginThrottleHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = LOGIN_FAILURES_PER_ACCOUNT
AXES_COOLOFF_TIME = LOGIN_COOLOFF_MINUTES / 60  # hours
# The time a lock-out names holds: tries while locked out do not push it further.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "postroom.accounts.throttle.lockout_response"
# The log names the account and address of each failure; the stored form data hides
# passwords (always), second-factor codes and CSRF tokens.
AXES_SENSITIVE_PARAMETERS = ["code", "csrfmiddlewaretoken"]
# Behind a reverse proxy, the header naming the client (e.g. HTTP_X_FORWARDED_FOR) and
# how many proxies stand in front; by default the peer address is the client.
AXES_IPWARE_META_PRECEDENCE_ORDER = tuple(
    _env_list("POSTROOM_CLIENT_IP_HEADER", "") + ["REMOTE_ADDR"]
)
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("POSTROOM_PROXY_COUNT", "0")) or None
# Administrators (staff or superusers) must set up the second factor before anything else.
REQUIRE_ADMIN_2FA = _env_bool("POSTROOM_REQUIRE_ADMIN_2FA")
OTP_TOTP_ISSUER = os.environ.get("POSTROOM_OTP_ISSUER", "Postroom")

# The REST API (README "API"): django-ninja serves /api/v1/ with its OpenAPI document and
# docs ("ninja" for its vendored Swagger UI templates and static files); every error
# under /api/ is JSON (postroom.api.middleware). Requests one API token may make in a
# minute (more get 429 with Retry-After; 0: no limit).
INSTALLED_APPS += ["ninja", "postroom.api"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("csp.middleware.CSPMiddleware"), "postroom.api.middleware.ApiErrorMiddleware"
)
POSTROOM["API_RATE_PER_MINUTE"] = int(os.environ.get("POSTROOM_API_RATE_PER_MINUTE", "600"))
# Days an invitation link (People → Add a person) may be used to choose a password.
POSTROOM["INVITATION_DAYS"] = int(os.environ.get("POSTROOM_INVITATION_DAYS", "7"))

# Retention and storage (postroom/retention): emails per transaction of a retention run,
# seconds it pauses between batches (to go easy on a busy database), and seconds a pack
# file must have been left alone before it is compacted (a pack written to lately may
# still be a sync writer's current one).
INSTALLED_APPS += ["postroom.retention"]
POSTROOM["RETENTION_BATCH"] = int(os.environ.get("POSTROOM_RETENTION_BATCH", "500"))
POSTROOM["RETENTION_PAUSE"] = float(os.environ.get("POSTROOM_RETENTION_PAUSE", "0"))
POSTROOM["RETENTION_PACK_QUIET"] = float(os.environ.get("POSTROOM_RETENTION_PACK_QUIET", "3600"))

# Webhooks (README "Webhooks"): networks a webhook may reach although they are not
# public (CIDRs, e.g. 10.0.0.0/8 for a receiver on the company network; loopback,
# private, link-local and reserved addresses are refused otherwise), networks it may
# never reach, seconds for the connection and each read, and the retry schedule.
INSTALLED_APPS += ["postroom.webhooks"]
WEBHOOKS = {
    "ALLOWED_NETWORKS": _env_list("POSTROOM_WEBHOOK_ALLOWED_NETWORKS", ""),
    "DENIED_NETWORKS": _env_list("POSTROOM_WEBHOOK_DENIED_NETWORKS", ""),
    "TIMEOUT": float(os.environ.get("POSTROOM_WEBHOOK_TIMEOUT", "5")),
    "RETRY_BASE": float(os.environ.get("POSTROOM_WEBHOOK_RETRY_BASE", "30")),
    "RETRY_CAP": float(os.environ.get("POSTROOM_WEBHOOK_RETRY_CAP", "3600")),
    "RETRY_FOR": float(os.environ.get("POSTROOM_WEBHOOK_RETRY_FOR", str(24 * 3600))),
}
