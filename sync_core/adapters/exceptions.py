"""Errors raised by CRM adapters, one class per kind of failure.

Each class is a ``CrmApiError`` with a fixed category from ``sync_core.errors``.
Whether the job queue retries follows from the category (see
``RETRYABLE_CATEGORIES``), except where a class documents otherwise. The classes do
not depend on one CRM, so every adapter kind raises the same ones.
"""

from .. import errors


class CrmAdapterError(errors.CrmApiError):
    """Base class of the adapter errors below.

    The message may quote the CRM's own error text, which can contain property
    values (personal data). :attr:`log_message` leaves that text out, so log it
    instead of the message.
    """

    def __init__(self, message, *, log_message=None, **kwargs):
        super().__init__(message, **kwargs)
        self.log_message = log_message or message


class CrmAuthError(CrmAdapterError):
    """The CRM rejected the credentials (HTTP 401)."""

    def __init__(self, message, *, status=401, **kwargs):
        super().__init__(message, status=status, category=errors.AUTH, **kwargs)


class CrmPermissionError(CrmAdapterError):
    """The credentials lack a permission (HTTP 403).

    ``missing_scopes`` lists the scopes the CRM named as required, if it named any.
    """

    def __init__(self, message, *, status=403, missing_scopes=(), **kwargs):
        super().__init__(message, status=status, category=errors.PERMISSION, **kwargs)
        self.missing_scopes = tuple(missing_scopes)


class CrmNotFoundError(CrmAdapterError):
    """The record or endpoint does not exist (HTTP 404)."""

    def __init__(self, message, *, status=404, **kwargs):
        super().__init__(message, status=status, category=errors.NOT_FOUND, **kwargs)


class CrmValidationError(CrmAdapterError):
    """The CRM rejected the request's data (HTTP 400).

    ``property_names`` lists the properties the CRM named as invalid, if any.
    """

    def __init__(self, message, *, status=400, property_names=(), **kwargs):
        super().__init__(message, status=status, category=errors.VALIDATION, **kwargs)
        self.property_names = tuple(property_names)


class CrmConflictError(CrmAdapterError):
    """The write conflicts with an existing record (HTTP 409).

    When the CRM names the record that already has the unique value,
    ``existing_id`` is its id and the category is DUPLICATE, else CONFLICT.
    """

    def __init__(self, message, *, status=409, existing_id=None, **kwargs):
        category = errors.DUPLICATE if existing_id else errors.CONFLICT
        super().__init__(
            message, status=status, category=category, retryable=False, **kwargs
        )
        self.existing_id = existing_id


class CrmRateLimitError(CrmAdapterError):
    """The CRM's rate limit was reached (HTTP 429).

    ``retry_after`` is the wait in seconds the CRM asked for, or None.
    ``policy`` is the name of the limit that was hit, when the CRM names it.
    """

    def __init__(self, message, *, status=429, retry_after=None, policy=None, **kwargs):
        super().__init__(
            message,
            status=status,
            retry_after=retry_after,
            category=errors.RATE_LIMIT,
            **kwargs,
        )
        self.policy = policy


class CrmServerError(CrmAdapterError):
    """The CRM failed to handle a valid request (HTTP 5xx, or 423 while locked).

    The category is TIMEOUT for a gateway timeout (504), else SERVER.
    """

    def __init__(self, message, *, status, retry_after=None, **kwargs):
        if errors.category_for_status(status) == errors.TIMEOUT:
            category = errors.TIMEOUT
        else:
            category = errors.SERVER
        super().__init__(
            message, status=status, retry_after=retry_after, category=category, **kwargs
        )


class CrmTimeoutError(CrmAdapterError):
    """No complete response arrived within the timeout.

    A write may still have taken effect: before repeating a create, look the
    record up by its idempotency property.
    """

    def __init__(self, message, **kwargs):
        super().__init__(message, status=None, category=errors.TIMEOUT, **kwargs)


class CrmNetworkError(CrmAdapterError):
    """The connection failed: refused, reset, or the host name did not resolve."""

    def __init__(self, message, **kwargs):
        super().__init__(message, status=None, category=errors.NETWORK, **kwargs)


class CrmMalformedResponseError(CrmAdapterError):
    """The response body is not the JSON the API documents, or it was cut short.

    Retryable, because a cut body is usually a transient network or proxy fault.
    A write may still have taken effect, as after a timeout.
    """

    def __init__(self, message, *, status=None, **kwargs):
        super().__init__(
            message, status=status, category=errors.MALFORMED, retryable=True, **kwargs
        )


class InvalidBaseUrlError(errors.SyncError, ValueError):
    """The adapter's base URL is not a usable http(s) URL."""

    def __init__(self, message):
        super().__init__(message, category=errors.VALIDATION, retryable=False)


class RemoteHostNotAllowedError(InvalidBaseUrlError):
    """The base URL points at a host other than this machine without permission.

    Adapters call 127.0.0.1, localhost or ::1 unless the caller passes
    ``allow_remote=True``, so that no test or misconfiguration reaches a real CRM.
    """
