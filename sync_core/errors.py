"""Exceptions of the sync engine and the error categories that classify them.

Every error the engine raises on purpose is a :class:`SyncError`. Its
``category`` is one of the module constants below, and the Odoo layer stores
it through the selection list :data:`ERROR_CATEGORIES`. ``retryable`` is
True when the same work may succeed later without anyone changing the data
(after a timeout it may, with an invalid e-mail address it cannot).
"""

VALIDATION = "validation"
DUPLICATE = "duplicate"
CONFLICT = "conflict"
AUTH = "auth"
PERMISSION = "permission"
RATE_LIMIT = "rate_limit"
SERVER = "server"
TIMEOUT = "timeout"
NETWORK = "network"
NOT_FOUND = "not_found"
MALFORMED = "malformed"
CONCURRENCY = "concurrency"
INTERNAL = "internal"

ERROR_CATEGORIES = [
    (VALIDATION, "Invalid value"),
    (DUPLICATE, "Possible duplicate"),
    (CONFLICT, "Conflicting changes"),
    (AUTH, "Authentication failed"),
    (PERMISSION, "Permission denied"),
    (RATE_LIMIT, "Rate limit reached"),
    (SERVER, "CRM server error"),
    (TIMEOUT, "Timed out"),
    (NETWORK, "Network error"),
    (NOT_FOUND, "Not found"),
    (MALFORMED, "Malformed response"),
    (CONCURRENCY, "Database concurrency error"),
    (INTERNAL, "Internal error"),
]

# Categories where retrying the same request later can succeed. CONCURRENCY
# covers PostgreSQL serialisation failures and lock timeouts, which the job
# runner retries with jittered backoff instead of failing the job.
RETRYABLE_CATEGORIES = frozenset({RATE_LIMIT, SERVER, TIMEOUT, NETWORK, CONCURRENCY})

# Maximum length of a value quoted in an error message, in characters. Longer
# values are cut so that one pasted document cannot flood the error log.
MAX_QUOTED_VALUE_LENGTH = 80


class SyncError(Exception):
    """Base class of every error the sync engine raises on purpose."""

    category = INTERNAL

    def __init__(self, message, *, category=None, retryable=None):
        super().__init__(message)
        if category is not None:
            self.category = category
        if retryable is None:
            retryable = self.category in RETRYABLE_CATEGORIES
        self.retryable = retryable


class InvalidValueError(SyncError):
    """A value that cannot be normalised, with the record and field it came from.

    The normalise functions raise it with ``value`` and ``reason`` only. The
    mapping layer adds ``field`` and ``record_ref`` with :meth:`with_context`,
    so the final message reads like
    ``Contact 'crm:123' field 'email': 'bob@@x' is not a valid email address.``

    The message contains the value. Log :attr:`log_message` instead, which
    leaves the value out because it may be personal data.
    """

    category = VALIDATION

    def __init__(self, reason, *, value, field=None, record_ref=None, record_type=None):
        self.reason = reason
        self.value = value
        self.field = field
        self.record_ref = record_ref
        self.record_type = record_type
        super().__init__(self._build_message(include_value=True), retryable=False)

    def with_context(self, *, field=None, record_ref=None, record_type=None):
        """Return a copy that names the field and record, keeping known ones."""
        return InvalidValueError(
            self.reason,
            value=self.value,
            field=field or self.field,
            record_ref=record_ref or self.record_ref,
            record_type=record_type or self.record_type,
        )

    @property
    def log_message(self):
        """The message without the offending value, safe for server logs."""
        return self._build_message(include_value=False)

    def _build_message(self, include_value):
        subject = _quote(self.value) if include_value else "the value"
        location = self._location()
        if location:
            return f"{location}: {subject} {self.reason}."
        return f"{subject[0].upper()}{subject[1:]} {self.reason}."

    def _location(self):
        parts = []
        if self.record_ref:
            parts.append(f"{self.record_type or 'Record'} {_quote(self.record_ref)}")
        if self.field:
            parts.append(f"field {_quote(self.field)}")
        location = " ".join(parts)
        return location[:1].upper() + location[1:]


class CrmApiError(SyncError):
    """A failed call to the CRM's API; adapters raise subclasses of it.

    ``status`` is the HTTP status code, or None when no response arrived.
    ``retry_after`` is the delay in seconds the CRM asked for (its
    ``Retry-After`` header), or None when it sent none.
    """

    def __init__(self, message, *, status=None, retry_after=None, category=None,
                 retryable=None):
        self.status = status
        self.retry_after = float(retry_after) if retry_after is not None else None
        if category is None:
            category = category_for_status(status)
        super().__init__(message, category=category, retryable=retryable)


class SignatureError(SyncError):
    """A webhook request whose signature or timestamp failed validation."""

    category = AUTH

    def __init__(self, message):
        super().__init__(message, retryable=False)


class CursorStalledError(SyncError):
    """An incremental pull that can make no progress without skipping records."""

    category = INTERNAL

    def __init__(self, message):
        super().__init__(message, retryable=False)


def category_for_status(status):
    """Return the error category for an HTTP status code (None: network)."""
    if status is None:
        return NETWORK
    categories = {
        400: VALIDATION,
        401: AUTH,
        403: PERMISSION,
        404: NOT_FOUND,
        408: TIMEOUT,
        409: CONFLICT,
        410: NOT_FOUND,
        422: VALIDATION,
        423: CONCURRENCY,
        429: RATE_LIMIT,
        504: TIMEOUT,
    }
    if status in categories:
        return categories[status]
    if status >= 500:
        return SERVER
    return INTERNAL


def _quote(value):
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    if len(text) > MAX_QUOTED_VALUE_LENGTH:
        text = text[: MAX_QUOTED_VALUE_LENGTH - 1] + "…"
    return text
