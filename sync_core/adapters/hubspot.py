"""HubSpot adapter: the CrmAdapter interface over HubSpot's CRM REST API.

Endpoints used, relative to the caller's base URL (there is no default host):

* objects v3: ``GET /crm/v3/objects/{type}`` (list), ``GET .../{id}``,
  ``POST .../search``, ``POST .../batch/{read,create,update,archive}``;
* associations v4: ``GET /crm/v4/objects/{type}/{id}/associations/{to_type}``
  ``PUT .../associations/default/{to_type}/{to_id}`` and
  ``DELETE .../associations/{to_type}/{to_id}``;
* properties v3: ``GET /crm/v3/properties/{type}/{name}`` and
  ``POST /crm/v3/properties/{type}`` (see ``hubspot_properties``).

Behaviour the engine can rely on:

* Batch creates send each input's position as ``objectWriteTraceId``. With it,
  HubSpot responds with 207 and per-input errors instead of rejecting the whole
  batch, and each result can be matched to its input. Matching by position is
  not possible because HubSpot does not keep the input order in batch results.
* ``search_modified`` filters on the object type's last-modified property
  (``lastmodifieddate`` for contacts, ``hs_lastmodifieddate`` for the others) and
  sorts on it ascending. HubSpot accepts one sort rule only, so records with the
  same timestamp come in the CRM's order, which is by id in the bundled sandbox.
  HubSpot serves at most :data:`SEARCH_MAX_RESULTS` results per query, so the
  engine must narrow the window (move ``gte`` up) before paging further.
  ``search_modified_at`` pages through the records of one millisecond by id
  (``hs_object_id``), which HubSpot can sort on.
* ``search_in`` sends its values lowercased, because HubSpot's IN filter on a
  string property matches only lowercase values. Do not use it on enumeration
  properties, whose values compare case-sensitively.
* Rate limits and the one in-call retry of a 429 are described in
  ``hubspot_http``.
"""

import dataclasses
import json
import logging
from datetime import datetime

from .. import errors
from .base import (
    BATCH_SIZE,
    BatchResult,
    CheckResult,
    CrmAdapter,
    CrmRecord,
    ItemError,
    Page,
    as_utc,
    check_object_type,
    chunked,
)
from .exceptions import (
    CrmAdapterError,
    CrmAuthError,
    CrmMalformedResponseError,
    CrmNetworkError,
    CrmNotFoundError,
    CrmPermissionError,
    CrmRateLimitError,
    CrmServerError,
    CrmTimeoutError,
    CrmValidationError,
)
from .hubspot_errors import item_error, keys_of_error_entry
from .hubspot_http import HubSpotTransport, path_segment
from .hubspot_properties import (
    check_property_create,
    check_text_property,
    create_text_property,
    read_property,
)

_logger = logging.getLogger(__name__)

# Engine object type -> HubSpot object type name in URLs.
HUBSPOT_OBJECT_TYPES = {
    "company": "companies",
    "contact": "contacts",
    "deal": "deals",
    "line_item": "line_items",
    "product": "products",
}

# Plural labels of the engine object types in connection check details.
OBJECT_TYPE_LABELS = {
    "company": "Companies",
    "contact": "Contacts",
    "deal": "Deals",
    "line_item": "Line items",
    "product": "Products",
}

# Property with the last modification date: "lastmodifieddate" for contacts,
# "hs_lastmodifieddate" for the other object types.
MODIFIED_PROPERTIES = {"contact": "lastmodifieddate"}
DEFAULT_MODIFIED_PROPERTY = "hs_lastmodifieddate"

# HubSpot search: maximum page size, and maximum results per query (paging
# past the 10,000th result fails with HTTP 400).
SEARCH_MAX_LIMIT = 200
SEARCH_MAX_RESULTS = 10_000

# HubSpot rejects a search whose request body is longer than 3,000 characters
# (CRM search guide, "Limits"). A paging cursor adds up to about 30 more.
SEARCH_MAX_BODY_CHARS = 3_000
_AFTER_RESERVE_CHARS = 30

# Values sent in one IN filter. HubSpot's search guide gives no maximum, so
# this is the batch size of its other endpoints.
IN_FILTER_MAX_VALUES = 100

# Maximum page size of the associations v4 list endpoint.
ASSOCIATIONS_PAGE_SIZE = 500

# Connection check results after which no further check is meaningful.
_STOPPING_CHECKS = ("url", "token", "service")

# Errors after which a batch call stops sending chunks, because the next chunk
# would fail the same way. Other whole-chunk errors become item errors.
_FATAL_BATCH_ERRORS = (
    CrmAuthError,
    CrmPermissionError,
    CrmRateLimitError,
    CrmServerError,
    CrmTimeoutError,
    CrmNetworkError,
    CrmMalformedResponseError,
)


def hubspot_type(object_type):
    """Return HubSpot's URL name for an engine object type."""
    check_object_type(object_type)
    return HUBSPOT_OBJECT_TYPES[object_type]


def modified_property(object_type):
    """Return the property that contains a record's last modification date."""
    return MODIFIED_PROPERTIES.get(object_type, DEFAULT_MODIFIED_PROPERTY)


def epoch_ms(moment):
    """Return a datetime as HubSpot's filter value: epoch milliseconds as text."""
    return str(int(as_utc(moment).timestamp() * 1000))


def parse_timestamp(value):
    """Parse HubSpot's ISO-8601 timestamp into an aware UTC datetime, or None."""
    if value in (None, ""):
        return None
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        raise CrmMalformedResponseError(
            f"The CRM sent an invalid timestamp {value!r}."
        ) from None


def record_from_json(data):
    """Return a CrmRecord from HubSpot's SimplePublicObject JSON."""
    if not isinstance(data, dict) or data.get("id") in (None, ""):
        raise CrmMalformedResponseError("The CRM sent a record without an id.")
    properties = data.get("properties") or {}
    if not isinstance(properties, dict):
        raise CrmMalformedResponseError(
            f"The CRM sent record {data['id']} with properties that are not an object."
        )
    return CrmRecord(
        id=str(data["id"]),
        properties=dict(properties),
        created_at=parse_timestamp(data.get("createdAt")),
        updated_at=parse_timestamp(data.get("updatedAt")),
        archived=bool(data.get("archived", False)),
    )


def _records(body, label):
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise CrmMalformedResponseError(
            f"The CRM responded to {label} without a results list."
        )
    return [record_from_json(item) for item in results]


def _next_after(body):
    paging = body.get("paging") or {}
    after = (paging.get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


class HubSpotAdapter(CrmAdapter):
    """CrmAdapter for HubSpot's CRM API, authenticated with a private app token.

    ``base_url`` is required and has no default. Unless ``allow_remote`` is
    true, it must point at 127.0.0.1, localhost or ::1; the Odoo layer keeps it
    false in tests so that nothing reaches a real CRM. ``timeout`` is in
    seconds per request, ``rate_limit`` requests per ``rate_window`` seconds.
    """

    kind = "hubspot"
    search_max_results = SEARCH_MAX_RESULTS

    def __init__(
        self,
        base_url,
        access_token,
        *,
        timeout=20.0,
        rate_limit=100,
        rate_window=10.0,
        allow_remote=False,
    ):
        self.transport = HubSpotTransport(
            base_url,
            access_token,
            timeout=timeout,
            rate_limit=rate_limit,
            rate_window=rate_window,
            allow_remote=allow_remote,
        )

    def __repr__(self):
        return f"<{type(self).__name__} {self.base_url}>"

    @property
    def base_url(self):
        return self.transport.base_url

    def close(self):
        self.transport.close()

    def _call(self, method, path, **kwargs):
        return self.transport.request(method, path, **kwargs)

    # -- connection check ------------------------------------------------------

    def check_connection(self, checks, properties=()):
        """Check the URL, the token, each scope and each property.

        See CrmAdapter.check_connection. Result names are ``url``, ``token``,
        ``service`` (rate limit or server error), ``scope:<scope name>`` and
        ``property:<HubSpot type>.<property name>``.
        """
        results = self._check_url_and_token(checks)
        if all(result.ok for result in results):
            results += self._check_scopes(checks)
        if not any(
            not result.ok and result.name in _STOPPING_CHECKS for result in results
        ):
            results += [
                self._check_property(object_type, name)
                for object_type, name in properties
            ]

        for result in results:
            if not result.ok:
                _logger.info(
                    "HubSpot connection check at %s failed: %s",
                    self.base_url,
                    result.name,
                )
        return results

    def _check_scopes(self, checks):
        results = []
        for object_type, needs_write in _merge_checks(checks):
            for write in (False, True) if needs_write else (False,):
                result = self._check_scope(object_type, write)
                results.append(result)
                if not result.ok and result.name in _STOPPING_CHECKS:
                    return results
        return results

    def _check_url_and_token(self, checks):
        """Send one read request and report whether the URL and the token work."""
        probe_type = checks[0][0] if checks else "company"
        path = f"/crm/v3/objects/{hubspot_type(probe_type)}"
        url_ok = CheckResult("url", True, f"The CRM at {self.base_url} responds.")
        token_ok = CheckResult("token", True, "The access token is accepted.")
        try:
            self._call("GET", path, params={"limit": 1})
        except (CrmNetworkError, CrmTimeoutError) as error:
            return [
                CheckResult("url", False, _unreachable_detail(self.base_url, error))
            ]
        except (CrmNotFoundError, CrmMalformedResponseError) as error:
            return [
                CheckResult("url", False, _not_hubspot_detail(self.base_url, error))
            ]
        except CrmAuthError as error:
            return [url_ok, CheckResult("token", False, str(error))]
        except CrmPermissionError:
            return [url_ok, token_ok]
        except CrmAdapterError as error:
            return [url_ok, CheckResult("service", False, _service_detail(error))]
        return [url_ok, token_ok]

    def _check_scope(self, object_type, write):
        """Check one read or write permission with a request that changes nothing."""
        name = hubspot_type(object_type)
        scope = f"crm.objects.{name}.{'write' if write else 'read'}"
        verb = "written" if write else "read"
        passed = CheckResult(
            f"scope:{scope}",
            True,
            f"{OBJECT_TYPE_LABELS[object_type]} can be {verb} (scope {scope}).",
        )
        try:
            if write:
                # An update with no inputs needs the write scope and changes nothing.
                self._call(
                    "POST",
                    f"/crm/v3/objects/{name}/batch/update",
                    json_body={"inputs": []},
                )
            else:
                self._call("GET", f"/crm/v3/objects/{name}", params={"limit": 1})
        except CrmPermissionError as error:
            missing = ", ".join(error.missing_scopes or (scope,))
            return CheckResult(
                f"scope:{scope}",
                False,
                f"Missing scope {missing}: add it to the private app.",
            )
        except CrmValidationError:
            # NOTE: this counts as a pass, which is right when the CRM checks
            # scopes before the body, as the sandbox does. That HubSpot does so
            # too is assumed, not verified.
            return passed
        except CrmAuthError as error:
            return CheckResult("token", False, str(error))
        except (CrmNetworkError, CrmTimeoutError) as error:
            return CheckResult("url", False, _unreachable_detail(self.base_url, error))
        except CrmAdapterError as error:
            return CheckResult("service", False, _service_detail(error))
        return passed

    def _check_property(self, object_type, name):
        """Check that a property exists or that the token may create it."""
        crm_type = hubspot_type(object_type)
        check_name = f"property:{crm_type}.{name}"
        try:
            definition = read_property(self._call, crm_type, name)
            if definition is not None:
                check_text_property(definition, crm_type, name)
                return CheckResult(
                    check_name, True, f"Property {name} exists on {crm_type}."
                )
            check_property_create(self._call, crm_type, name)
        except (CrmPermissionError, CrmValidationError) as error:
            return CheckResult(check_name, False, str(error))
        except CrmAuthError as error:
            return CheckResult("token", False, str(error))
        except (CrmNetworkError, CrmTimeoutError) as error:
            return CheckResult("url", False, _unreachable_detail(self.base_url, error))
        except CrmAdapterError as error:
            return CheckResult("service", False, _service_detail(error))
        return CheckResult(
            check_name,
            True,
            f"Property {name} is missing on {crm_type}, and the first export "
            "creates it.",
        )

    # -- properties ------------------------------------------------------------

    def ensure_property(self, object_type, name, label, unique=False):
        crm_type = hubspot_type(object_type)
        definition = read_property(self._call, crm_type, name)
        if definition is not None:
            check_text_property(definition, crm_type, name)
            return False

        created = create_text_property(
            self._call, object_type, crm_type, name, label, unique
        )
        if created:
            _logger.info("Created HubSpot property %s on %s", name, crm_type)
        else:
            _logger.info(
                "HubSpot property %s on %s was created by another client meanwhile",
                name,
                crm_type,
            )
        return created

    # -- reading ---------------------------------------------------------------

    def get(self, object_type, crm_id, properties):
        name = hubspot_type(object_type)
        params = {"properties": ",".join(properties), "archived": "false"}
        body = self._call(
            "GET", f"/crm/v3/objects/{name}/{path_segment(crm_id)}", params=params
        )
        return record_from_json(body)

    def iter_all(self, object_type, properties, page_size=BATCH_SIZE):
        name = hubspot_type(object_type)
        if not 1 <= page_size <= BATCH_SIZE:
            raise ValueError(
                f"page_size must be between 1 and {BATCH_SIZE}, got {page_size}."
            )
        path = f"/crm/v3/objects/{name}"
        params = {
            "limit": page_size,
            "properties": ",".join(properties),
            "archived": "false",
        }

        after = None
        while True:
            if after is not None:
                params["after"] = after
            body = self._call("GET", path, params=params)
            yield from _records(body, f"GET {path}")
            next_after = _next_after(body)
            if next_after is None:
                return
            if next_after == after:
                raise CrmMalformedResponseError(
                    f"The CRM repeated paging cursor {after!r} on GET {path}."
                )
            after = next_after

    def search_modified(
        self, object_type, gte, lte, properties, after=None, limit=BATCH_SIZE
    ):
        name = hubspot_type(object_type)
        _check_search_limit(limit)
        modified = modified_property(object_type)
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": modified,
                            "operator": "GTE",
                            "value": epoch_ms(gte),
                        },
                        {
                            "propertyName": modified,
                            "operator": "LTE",
                            "value": epoch_ms(lte),
                        },
                    ]
                }
            ],
            "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
            "properties": _with_property(properties, modified),
            "limit": limit,
        }
        if after is not None:
            body["after"] = str(after)
        return self._search(name, body)

    def search_equals(self, object_type, property_name, value, properties):
        name = hubspot_type(object_type)
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": property_name,
                            "operator": "EQ",
                            "value": str(value),
                        }
                    ]
                }
            ],
            "properties": list(properties),
            "limit": BATCH_SIZE,
        }
        records = []
        while True:
            page = self._search(name, body)
            records += page.records
            if page.next_after is None:
                return records
            body["after"] = page.next_after

    def search_in(self, object_type, property_name, values, properties):
        name = hubspot_type(object_type)
        # HubSpot's IN filter on a string property matches only lowercase
        # values, and then compares case-insensitively.
        lowercase_values = list(dict.fromkeys(str(value).lower() for value in values))
        records = {}
        searches = 0
        for chunk in _in_filter_chunks(property_name, lowercase_values, properties):
            body = _in_search_body(property_name, chunk, properties)
            while True:
                page = self._search(name, body)
                searches += 1
                records.update((record.id, record) for record in page.records)
                if page.next_after is None:
                    break
                body["after"] = page.next_after
        _logger.info(
            "HubSpot IN search of %s by %s: %s values, %s searches, %s records",
            name,
            property_name,
            len(lowercase_values),
            searches,
            len(records),
        )
        return list(records.values())

    def search_modified_at(
        self, object_type, modified_at, after_id, properties, limit=BATCH_SIZE
    ):
        name = hubspot_type(object_type)
        _check_search_limit(limit)
        modified = modified_property(object_type)
        filters = [
            {"propertyName": modified, "operator": "EQ", "value": epoch_ms(modified_at)}
        ]
        if after_id is not None:
            filters.append(
                {
                    "propertyName": "hs_object_id",
                    "operator": "GT",
                    "value": str(after_id),
                }
            )
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": _with_property(properties, modified),
            "limit": limit,
        }
        return self._search(name, body)

    def _search(self, name, body):
        path = f"/crm/v3/objects/{name}/search"
        response = self._call("POST", path, json_body=body, search=True)
        total = response.get("total")
        return Page(
            records=_records(response, f"POST {path}"),
            next_after=_next_after(response),
            total=int(total) if isinstance(total, int) else None,
        )

    def batch_read(self, object_type, crm_ids, properties):
        name = hubspot_type(object_type)
        ids = list(dict.fromkeys(str(crm_id) for crm_id in crm_ids))
        result = BatchResult()
        for _offset, chunk in chunked(ids):
            body = {
                "properties": list(properties),
                "propertiesWithHistory": [],
                "inputs": [{"id": crm_id} for crm_id in chunk],
            }
            chunk_result = self._batch_call(
                result, "POST", f"/crm/v3/objects/{name}/batch/read", body, chunk
            )
            result.extend(
                _match_by_id(chunk_result, chunk, missing_category=errors.NOT_FOUND)
            )
        return result

    # -- writing ---------------------------------------------------------------

    def batch_create(self, object_type, inputs):
        name = hubspot_type(object_type)
        inputs = list(inputs)
        result = BatchResult()
        for offset, chunk in chunked(inputs):
            keys = list(range(offset, offset + len(chunk)))
            body = {
                "inputs": [
                    {"properties": dict(properties), "objectWriteTraceId": str(key)}
                    for key, properties in zip(keys, chunk, strict=True)
                ]
            }
            chunk_result = self._batch_call(
                result, "POST", f"/crm/v3/objects/{name}/batch/create", body, keys
            )
            result.extend(_match_by_trace_id(chunk_result, keys))
        _logger.info(
            "HubSpot batch create of %s: %s created, %s failed",
            name,
            len(result.results),
            len(result.errors),
        )
        return result

    def batch_update(self, object_type, inputs):
        name = hubspot_type(object_type)
        pairs = [(str(crm_id), dict(properties)) for crm_id, properties in inputs]
        _check_unique_ids([crm_id for crm_id, _properties in pairs])
        result = BatchResult()
        for _offset, chunk in chunked(pairs):
            keys = [crm_id for crm_id, _properties in chunk]
            body = {
                "inputs": [
                    {
                        "id": crm_id,
                        "properties": properties,
                        "objectWriteTraceId": crm_id,
                    }
                    for crm_id, properties in chunk
                ]
            }
            chunk_result = self._batch_call(
                result, "POST", f"/crm/v3/objects/{name}/batch/update", body, keys
            )
            result.extend(_match_by_trace_id(chunk_result, keys))
        _logger.info(
            "HubSpot batch update of %s: %s updated, %s failed",
            name,
            len(result.results),
            len(result.errors),
        )
        return result

    def batch_archive(self, object_type, crm_ids):
        name = hubspot_type(object_type)
        ids = list(dict.fromkeys(str(crm_id) for crm_id in crm_ids))
        result = BatchResult()
        for _offset, chunk in chunked(ids):
            body = {"inputs": [{"id": crm_id} for crm_id in chunk]}
            chunk_result = self._batch_call(
                result, "POST", f"/crm/v3/objects/{name}/batch/archive", body, chunk
            )
            result.extend(_match_archived(chunk_result, chunk))
        _logger.info(
            "HubSpot batch archive of %s: %s archived, %s failed",
            name,
            len(result.results),
            len(result.errors),
        )
        return result

    def _batch_call(self, result_so_far, method, path, body, keys):
        """Send one chunk and return its raw outcome as a _ChunkResponse.

        A whole-chunk error that would also fail the next chunk is raised with
        ``partial_result`` set to ``result_so_far``. Any other whole-chunk error
        (such as a 400 for the chunk) becomes an item error for every key.
        """
        try:
            response = self._call(method, path, json_body=body)
        except _FATAL_BATCH_ERRORS as error:
            error.partial_result = result_so_far
            raise
        except CrmAdapterError as error:
            _logger.warning(
                "HubSpot %s %s rejected a chunk of %s inputs: %s",
                method,
                path,
                len(keys),
                error.log_message,
            )
            return _ChunkResponse(
                whole_chunk_error=ItemError(
                    index_or_id=None,
                    category=error.category,
                    message=str(error),
                    retryable=error.retryable,
                    status=error.status,
                    property_names=getattr(error, "property_names", ()),
                    existing_id=getattr(error, "existing_id", None),
                )
            )
        return _ChunkResponse(body=response)

    # -- associations ----------------------------------------------------------

    def list_associations(self, from_type, crm_id, to_type):
        path = (
            f"/crm/v4/objects/{hubspot_type(from_type)}/{path_segment(crm_id)}"
            f"/associations/{hubspot_type(to_type)}"
        )
        ids = []
        after = None
        while True:
            params = {"limit": ASSOCIATIONS_PAGE_SIZE}
            if after:
                params["after"] = after
            body = self._call("GET", path, params=params)
            ids += _associated_ids(body, f"GET {path}")
            next_after = _next_after(body)
            if next_after is None or next_after == after:
                return list(dict.fromkeys(ids))
            after = next_after

    def associate(self, from_type, from_id, to_type, to_id):
        path = (
            f"/crm/v4/objects/{hubspot_type(from_type)}/{path_segment(from_id)}"
            f"/associations/default/{hubspot_type(to_type)}/{path_segment(to_id)}"
        )
        self._call("PUT", path)

    def disassociate(self, from_type, from_id, to_type, to_id):
        path = (
            f"/crm/v4/objects/{hubspot_type(from_type)}/{path_segment(from_id)}"
            f"/associations/{hubspot_type(to_type)}/{path_segment(to_id)}"
        )
        self._call("DELETE", path)


class _ChunkResponse:
    """Decoded response of one batch chunk, or the error that rejected all of it."""

    def __init__(self, body=None, whole_chunk_error=None):
        self.body = body or {}
        self.whole_chunk_error = whole_chunk_error

    @property
    def errors(self):
        entries = self.body.get("errors") or []
        return [entry for entry in entries if isinstance(entry, dict)]

    def records(self):
        results = self.body.get("results") or []
        if not isinstance(results, list):
            raise CrmMalformedResponseError(
                "The CRM sent batch results that are not a list."
            )
        return [(item, record_from_json(item)) for item in results]


def _match_by_trace_id(chunk, keys):
    """Map a create or update chunk's results and errors to their input keys.

    Results and errors carry the ``objectWriteTraceId`` sent with each input,
    which is ``str(key)``. A chunk with a single input needs no trace id.
    """
    if chunk.whole_chunk_error is not None:
        return _fail_all(keys, chunk.whole_chunk_error)

    by_trace = {str(key): key for key in keys}
    result = BatchResult()
    unmatched = []
    for item, record in chunk.records():
        key = by_trace.get(str(item.get("objectWriteTraceId")))
        if key is None and len(keys) == 1:
            key = keys[0]
        if key is None:
            unmatched.append(record.id)
            continue
        result.results[key] = record

    for entry in chunk.errors:
        trace_ids, ids = keys_of_error_entry(entry)
        entry_keys = [by_trace[t] for t in trace_ids if t in by_trace]
        entry_keys += [
            by_trace[i] for i in ids if i in by_trace and by_trace[i] not in entry_keys
        ]
        if not entry_keys and len(keys) == 1:
            entry_keys = keys
        result.errors += [item_error(key, entry) for key in entry_keys]

    if unmatched:
        _logger.warning(
            "HubSpot batch returned %s results with no known objectWriteTraceId: %s",
            len(unmatched),
            ", ".join(unmatched),
        )
    return _report_missing(result, keys, errors.MALFORMED)


def _match_by_id(chunk, keys, missing_category):
    """Map a read chunk's results and errors to the CRM ids that were requested."""
    if chunk.whole_chunk_error is not None:
        return _fail_all(keys, chunk.whole_chunk_error)

    requested = set(keys)
    result = BatchResult()
    for _item, record in chunk.records():
        if record.id in requested:
            result.results[record.id] = record
    for entry in chunk.errors:
        _trace_ids, ids = keys_of_error_entry(entry)
        result.errors += [
            item_error(crm_id, entry) for crm_id in ids if crm_id in requested
        ]
    return _report_missing(result, keys, missing_category)


def _match_archived(chunk, keys):
    """Map an archive chunk's outcome to its ids.

    HubSpot responds with 204 and no body whether or not each id existed, so every
    id without an error counts as archived.
    """
    if chunk.whole_chunk_error is not None:
        return _fail_all(keys, chunk.whole_chunk_error)

    result = BatchResult()
    for entry in chunk.errors:
        _trace_ids, ids = keys_of_error_entry(entry)
        result.errors += [item_error(crm_id, entry) for crm_id in ids if crm_id in keys]
    failed = {error.index_or_id for error in result.errors}
    for crm_id in keys:
        if crm_id not in failed:
            result.results[crm_id] = CrmRecord(crm_id, {}, archived=True)
    return result


def _fail_all(keys, error):
    return BatchResult(
        errors=[dataclasses.replace(error, index_or_id=key) for key in keys]
    )


def _report_missing(result, keys, category):
    """Add an item error for each key that has neither a result nor an error."""
    reported = set(result.results) | {error.index_or_id for error in result.errors}
    for key in keys:
        if key in reported:
            continue
        if category == errors.NOT_FOUND:
            message = (
                f"The CRM returned no record for id {key}; it may be deleted or merged."
            )
        else:
            message = (
                "The CRM reported no outcome for this input. It may have been written: "
                "look it up before sending it again."
            )
        # An input without an outcome may succeed when sent again after a
        # lookup, so only a missing record is final.
        retryable = category != errors.NOT_FOUND
        result.errors.append(ItemError(key, category, message, retryable=retryable))
    return result


def _associated_ids(body, label):
    results = body.get("results")
    if not isinstance(results, list):
        raise CrmMalformedResponseError(
            f"The CRM responded to {label} without a results list."
        )
    ids = []
    for item in results:
        to_id = item.get("toObjectId") if isinstance(item, dict) else None
        if to_id in (None, ""):
            raise CrmMalformedResponseError(
                f"The CRM responded to {label} with an association without toObjectId."
            )
        ids.append(str(to_id))
    return ids


def _merge_checks(checks):
    """Return (object_type, needs_write) pairs with repeats merged, in input order."""
    merged = {}
    for object_type, needs_write in checks:
        check_object_type(object_type)
        merged[object_type] = merged.get(object_type, False) or bool(needs_write)
    return list(merged.items())


def _check_search_limit(limit):
    if not 1 <= limit <= SEARCH_MAX_LIMIT:
        raise ValueError(
            f"limit must be between 1 and {SEARCH_MAX_LIMIT}, got {limit}."
        )


def _in_search_body(property_name, values, properties):
    return {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": property_name, "operator": "IN", "values": values}
                ]
            }
        ],
        "properties": list(properties),
        "limit": SEARCH_MAX_LIMIT,
    }


def _in_filter_chunks(property_name, values, properties):
    """Yield lists of at most IN_FILTER_MAX_VALUES values for one IN filter each.

    A chunk also ends before its request body would pass SEARCH_MAX_BODY_CHARS,
    leaving room for a paging cursor. A single value too long for one body is
    sent alone, and HubSpot rejects that request with a 400.
    """
    # The transport sends json.dumps output with its default separators, so
    # this measures the body as HubSpot receives it.
    budget = SEARCH_MAX_BODY_CHARS - _AFTER_RESERVE_CHARS
    chunk = []
    for value in values:
        candidate = [*chunk, value]
        too_long = (
            len(json.dumps(_in_search_body(property_name, candidate, properties)))
            > budget
        )
        if chunk and (len(candidate) > IN_FILTER_MAX_VALUES or too_long):
            yield chunk
            candidate = [value]
        chunk = candidate
    if chunk:
        yield chunk


def _check_unique_ids(crm_ids):
    seen = set()
    for crm_id in crm_ids:
        if crm_id in seen:
            raise ValueError(
                f"CRM id {crm_id} appears twice in one batch update: "
                "merge its changes into one input."
            )
        seen.add(crm_id)


def _with_property(properties, name):
    names = list(properties)
    return names if name in names else [*names, name]


def _unreachable_detail(base_url, error):
    if isinstance(error, CrmTimeoutError):
        reason = "it did not respond within the timeout"
    else:
        reason = "the connection failed"
    return (
        f"The CRM at {base_url} cannot be reached: {reason}. Check the API base URL "
        "and that the CRM is running."
    )


def _not_hubspot_detail(base_url, error):
    status = f"HTTP {error.status}" if error.status else "no valid response"
    return (
        f"The URL {base_url} responds, but not as a HubSpot CRM API ({status}): "
        "check the API base URL."
    )


def _service_detail(error):
    if isinstance(error, CrmRateLimitError):
        wait = (
            f"{error.retry_after:g} s" if error.retry_after is not None else "a moment"
        )
        return f"The CRM is rate limiting requests (HTTP 429): test again in {wait}."
    if isinstance(error, CrmServerError):
        return (
            f"The CRM returned a server error (HTTP {error.status}): test again later."
        )
    return error.log_message
