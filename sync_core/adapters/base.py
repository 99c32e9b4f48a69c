"""Abstract CRM adapter: the only interface through which the sync engine reaches a CRM.

An adapter wraps one CRM account's API. The engine builds it with
``sync_core.adapters.get_adapter()`` and then calls only the methods of
:class:`CrmAdapter`, so a new CRM (Salesforce, a SOAP CRM) is one more subclass
and one more registry entry, with no change to the engine.

Contract of every adapter:

* Object types are the engine's names in :data:`OBJECT_TYPES` (``company``,
  ``contact``, ``deal``, ``line_item``, ``product``). The adapter translates them
  to the CRM's own names. Any other name raises ``ValueError``.
* CRM ids are strings. Property values are strings or ``None``, exactly as the CRM
  returns them; parsing numbers or dates is the mapping layer's job.
* Datetimes returned are timezone-aware UTC. Naive datetimes passed in are read
  as UTC, which is how Odoo stores them.
* Failures raise a subclass of ``sync_core.errors.CrmApiError`` whose
  ``category`` and ``retryable`` tell the job queue whether to reschedule, and
  whose ``retry_after`` (seconds or ``None``) is how long to wait first. Adapters do
  not run their own retry loops: at most one short in-call retry of a rate-limited
  request, documented by the adapter.
* Batch methods accept any number of inputs and send them in chunks of at most
  :data:`BATCH_SIZE`. Their :class:`BatchResult` maps each input to its record or
  to an :class:`ItemError`, so one bad record never hides the others. When a whole
  chunk fails with an error that would fail the next chunk too (authentication,
  scopes, rate limit, server, network), the method raises it. The raised error's
  ``partial_result`` attribute then contains the :class:`BatchResult` of the
  chunks that completed before it, so created records are not lost.
* Exception messages may quote the CRM's own error text, which can contain
  property values. Log an adapter error's ``log_message``, which leaves that
  text out, and otherwise only ids, object types, categories and HTTP statuses.
"""

import abc
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .exceptions import InvalidBaseUrlError, RemoteHostNotAllowedError

# Object types of the sync engine, in the order the engine syncs them.
OBJECT_TYPES = ("company", "contact", "product", "deal", "line_item")

# Maximum number of inputs per batch request; HubSpot's batch endpoints reject more.
BATCH_SIZE = 100

# Hosts an adapter may call without allow_remote=True: this machine only.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class CrmRecord:
    """One CRM record: its id, the requested property values and its timestamps."""

    id: str
    properties: dict
    created_at: datetime | None = None
    updated_at: datetime | None = None
    archived: bool = False


@dataclass
class Page:
    """One page of records, with the cursor of the next page and the match count.

    ``next_after`` is ``None`` on the last page. ``total`` is the number of records
    matching the whole query when the CRM reports it, else ``None``.
    """

    records: list
    next_after: str | None = None
    total: int | None = None


@dataclass(frozen=True)
class ItemError:
    """Failure of one batch input.

    ``index_or_id`` is the key of the failed input: its position in the list given
    to ``batch_create``, or its CRM id for the other batch methods. ``category`` is
    one of ``sync_core.errors.ERROR_CATEGORIES``. ``message`` is plain text for the
    user and may quote the CRM, so it must not be logged. ``status`` is the HTTP
    status when the whole request failed. ``property_names`` lists the properties
    the CRM named as invalid, and ``existing_id`` is the id of the record that
    already has the unique value (category DUPLICATE).
    """

    index_or_id: int | str
    category: str
    message: str
    retryable: bool = False
    status: int | None = None
    property_names: tuple = ()
    existing_id: str | None = None


@dataclass
class BatchResult:
    """Outcome of a batch call, keyed like :attr:`ItemError.index_or_id`.

    ``results`` maps each successful input's key to its :class:`CrmRecord`.
    ``errors`` lists one :class:`ItemError` per failed input. Every input appears
    in exactly one of the two.
    """

    results: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.errors

    def error_for(self, key):
        """Return the ItemError of the input with ``key``, or ``None``."""
        for error in self.errors:
            if error.index_or_id == key:
                return error
        return None

    def extend(self, other):
        """Add the results and errors of another chunk's BatchResult."""
        self.results.update(other.results)
        self.errors.extend(other.errors)


@dataclass(frozen=True)
class CheckResult:
    """One step of a connection check, with a plain-English detail for the user."""

    name: str
    ok: bool
    detail: str


def as_utc(moment):
    """Return ``moment`` as an aware UTC datetime; a naive value is read as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_base_url(base_url, allow_remote=False):
    """Return ``base_url`` without its trailing slash after checking it.

    Raises InvalidBaseUrlError unless it is an http(s) URL with a host and no
    credentials, query or fragment. Raises RemoteHostNotAllowedError when the
    host is not in :data:`LOOPBACK_HOSTS` and ``allow_remote`` is false.
    """
    url = (base_url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidBaseUrlError(
            f"The API base URL {url!r} is not an http(s) URL with a host name."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidBaseUrlError(
            f"The API base URL for host {parts.hostname} must not contain "
            "credentials, a query or a fragment: give only scheme, host, port and path."
        )
    if parts.hostname.lower() not in LOOPBACK_HOSTS and not allow_remote:
        raise RemoteHostNotAllowedError(
            f"The API base URL points at host {parts.hostname}, but this adapter "
            "only calls 127.0.0.1, localhost or ::1 unless remote hosts are allowed."
        )
    return url


def chunked(items, size=BATCH_SIZE):
    """Yield ``(offset, chunk)`` for consecutive slices of at most ``size`` items."""
    for offset in range(0, len(items), size):
        yield offset, items[offset : offset + size]


def check_object_type(object_type):
    """Raise ValueError unless ``object_type`` is one of :data:`OBJECT_TYPES`."""
    if object_type not in OBJECT_TYPES:
        raise ValueError(
            f"Unknown object type {object_type!r}: expected one of "
            f"{', '.join(OBJECT_TYPES)}."
        )


class CrmAdapter(abc.ABC):
    """Client for one CRM account, seen through the engine's object types.

    Instances hold an HTTP session. Call :meth:`close` when done, or use the
    adapter as a context manager.
    """

    kind = None
    # Maximum number of results one search query can page through, or None when
    # the CRM sets no limit. Beyond it the engine must narrow the time window.
    search_max_results = None

    def close(self):  # noqa: B027 - optional hook, not every adapter holds resources
        """Release network resources. The default does nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @abc.abstractmethod
    def check_connection(self, checks, properties=()):
        """Check the URL, the credentials and each needed permission.

        ``checks`` is a list of ``(object_type, needs_write)`` pairs.
        ``properties`` lists ``(object_type, property_name)`` pairs of custom
        properties the sync writes. Each check passes when the property exists
        or the credentials may create it. Returns a list of
        :class:`CheckResult`, in the order the steps ran. The steps stop at the
        first failure that makes the rest meaningless (the URL does not respond,
        the credentials are rejected). HTTP failures become failed results, not
        exceptions.
        """

    @abc.abstractmethod
    def ensure_property(self, object_type, name, label, unique=False):
        """Create the single-line text property ``name`` unless it exists.

        With ``unique`` the CRM rejects a second record with the same value.
        Returns True when this call created the property and False when it
        existed, also when another client created it after this call read it.
        Raises ``CrmPermissionError`` when the property is missing and the
        credentials may not create it, and ``CrmValidationError`` when it
        exists with a type that does not store text.
        """

    @abc.abstractmethod
    def get(self, object_type, crm_id, properties):
        """Return the :class:`CrmRecord` with ``crm_id``.

        Raises ``CrmNotFoundError`` (from ``exceptions``) when no live record has
        that id.
        """

    @abc.abstractmethod
    def iter_all(self, object_type, properties, page_size=BATCH_SIZE):
        """Yield every live record of ``object_type`` as a :class:`CrmRecord`."""

    @abc.abstractmethod
    def search_modified(
        self, object_type, gte, lte, properties, after=None, limit=BATCH_SIZE
    ):
        """Return one :class:`Page` of records last modified in ``[gte, lte]``.

        Records come in ascending order of last modification. Records with the
        same timestamp come in ascending id order where the CRM guarantees it
        (each adapter documents this). Pass the returned ``next_after`` as
        ``after`` to read the next page of the same window. ``total`` counts the
        whole window.
        """

    @abc.abstractmethod
    def search_equals(self, object_type, property_name, value, properties):
        """Return the records whose ``property_name`` equals ``value``, as a list.

        The engine uses it to find a record by its idempotency property before it
        repeats a create whose outcome is unknown.
        """

    @abc.abstractmethod
    def search_in(self, object_type, property_name, values, properties):
        """Return the records whose ``property_name`` equals one of ``values``.

        Values compare case-insensitively, so use it on text properties only.
        The adapter splits ``values`` into as many queries as the CRM needs and
        reads every page of each. A record is returned once, in no defined order.
        """

    @abc.abstractmethod
    def search_modified_at(
        self, object_type, modified_at, after_id, properties, limit=BATCH_SIZE
    ):
        """Return one :class:`Page` of records last modified at ``modified_at``.

        ``modified_at`` is compared to the millisecond. Only records whose id is
        greater than ``after_id`` are returned (all of them when it is
        ``None``), in ascending id order, so the engine pages through records
        that share one timestamp by passing the last id of a page. The page's
        ``next_after`` is not used for this query.
        """

    @abc.abstractmethod
    def batch_read(self, object_type, crm_ids, properties):
        """Read records by id. Returns a :class:`BatchResult` keyed by CRM id."""

    @abc.abstractmethod
    def batch_create(self, object_type, inputs):
        """Create one record per property dict in ``inputs``.

        Returns a :class:`BatchResult` keyed by each input's position in ``inputs``.
        """

    @abc.abstractmethod
    def batch_update(self, object_type, inputs):
        """Update records from ``(crm_id, properties)`` pairs.

        Returns a :class:`BatchResult` keyed by CRM id. An id may appear only once.
        """

    @abc.abstractmethod
    def batch_archive(self, object_type, crm_ids):
        """Archive records by id. Returns a :class:`BatchResult` keyed by CRM id.

        Each result is a :class:`CrmRecord` with empty properties and
        ``archived=True``.
        """

    @abc.abstractmethod
    def list_associations(self, from_type, crm_id, to_type):
        """Return the ids of the ``to_type`` records associated with a record."""

    @abc.abstractmethod
    def associate(self, from_type, from_id, to_type, to_id):
        """Associate two records with the CRM's default association type.

        Associating records that are already associated is not an error.
        """

    @abc.abstractmethod
    def disassociate(self, from_type, from_id, to_type, to_id):
        """Remove every association between two records.

        Removing an association that does not exist is not an error.
        """
