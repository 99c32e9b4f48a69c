"""CRM adapters and the registry that builds one per backend kind.

The Odoo layer calls :func:`get_adapter` with the backend's kind, base URL,
token and limits, then uses only the :class:`CrmAdapter` interface (see
``base``). A new CRM kind is a CrmAdapter subclass added with
:func:`register_adapter` and a line in :data:`ADAPTER_KINDS`.
"""

from .base import (
    BATCH_SIZE,
    OBJECT_TYPES,
    BatchResult,
    CheckResult,
    CrmAdapter,
    CrmRecord,
    ItemError,
    Page,
)
from .exceptions import (
    CrmAdapterError,
    CrmAuthError,
    CrmConflictError,
    CrmMalformedResponseError,
    CrmNetworkError,
    CrmNotFoundError,
    CrmPermissionError,
    CrmRateLimitError,
    CrmServerError,
    CrmTimeoutError,
    CrmValidationError,
    InvalidBaseUrlError,
    RemoteHostNotAllowedError,
)
from .hubspot import HubSpotAdapter

# Adapter class of each backend kind.
ADAPTERS = {"hubspot": HubSpotAdapter}

# Selection list of the backend's kind field: (kind, label).
ADAPTER_KINDS = [("hubspot", "HubSpot")]


def register_adapter(kind, adapter_class):
    """Register ``adapter_class`` for backend kind ``kind``, replacing any earlier one.

    Add the kind to :data:`ADAPTER_KINDS` as well so that backends can select it.
    """
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, CrmAdapter)):
        raise TypeError(f"Adapter for kind {kind!r} must be a CrmAdapter subclass.")
    ADAPTERS[kind] = adapter_class


def get_adapter(
    kind,
    base_url,
    access_token,
    *,
    timeout=20.0,
    rate_limit=100,
    rate_window=10.0,
    allow_remote=False,
):
    """Build the adapter for backend kind ``kind``.

    ``timeout`` is in seconds per request and ``rate_limit`` the maximum number
    of requests per ``rate_window`` seconds. ``allow_remote`` must stay false
    unless the base URL is meant to reach another machine. Raises ValueError for
    an unknown kind and InvalidBaseUrlError (a ValueError and a SyncError) for a
    rejected base URL.
    """
    adapter_class = ADAPTERS.get(kind)
    if adapter_class is None:
        raise ValueError(
            f"Unknown CRM kind {kind!r}: expected one of {', '.join(sorted(ADAPTERS))}."
        )
    return adapter_class(
        base_url,
        access_token,
        timeout=timeout,
        rate_limit=rate_limit,
        rate_window=rate_window,
        allow_remote=allow_remote,
    )


__all__ = [
    "ADAPTERS",
    "ADAPTER_KINDS",
    "BATCH_SIZE",
    "OBJECT_TYPES",
    "BatchResult",
    "CheckResult",
    "CrmAdapter",
    "CrmAdapterError",
    "CrmAuthError",
    "CrmConflictError",
    "CrmMalformedResponseError",
    "CrmNetworkError",
    "CrmNotFoundError",
    "CrmPermissionError",
    "CrmRateLimitError",
    "CrmRecord",
    "CrmServerError",
    "CrmTimeoutError",
    "CrmValidationError",
    "HubSpotAdapter",
    "InvalidBaseUrlError",
    "ItemError",
    "Page",
    "RemoteHostNotAllowedError",
    "get_adapter",
    "register_adapter",
]
