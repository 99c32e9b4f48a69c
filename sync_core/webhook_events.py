"""Parsing and routing of inbound HubSpot webhook batches.

HubSpot POSTs a JSON array of event objects. Every event carries ``eventId``,
``subscriptionType`` (``<object>.<kind>``, for example ``contact.propertyChange``),
``objectId`` and ``occurredAt`` (epoch milliseconds). Merge events add
``primaryObjectId``, ``newObjectId`` and ``mergedObjectIds``. Association
events add ``associationType``, ``fromObjectId`` and ``toObjectId``.

:func:`parse_batch` turns the raw body into :class:`WebhookEvent` objects or
raises :class:`MalformedBatchError` naming the first bad event and field.
:meth:`WebhookEvent.job_route` returns the sync job an event becomes.
"""

import json
from dataclasses import dataclass

# Largest request body accepted, in bytes. HubSpot batches up to 100 events in
# one request and one event is a few hundred bytes, so 1 MiB leaves a wide margin.
# NOTE: the 100-event batch size is quoted from secondary HubSpot guides and the
# sandbox, not measured on live HubSpot traffic.
MAX_BODY_BYTES = 1024 * 1024

# HubSpot object names (first part of subscriptionType) the engine syncs, mapped
# to the engine's object types.
HANDLED_OBJECT_TYPES = {
    "company": "company",
    "contact": "contact",
}

# Event kind (second part of subscriptionType) to job operation. Creations,
# property changes, restores and association changes all become an import,
# because the import reads the current CRM record instead of the event's value.
# NOTE: a privacy deletion (GDPR erasure in the CRM) is handled like any
# deletion: Odoo archives the partner when safe but erases no personal data.
OPERATION_BY_KIND = {
    "creation": "import",
    "propertyChange": "import",
    "restore": "import",
    "associationChange": "import",
    "deletion": "delete",
    "privacyDeletion": "delete",
    "merge": "merge",
}

# Event fields kept in the job payload. ``propertyValue`` is left out on
# purpose: the import re-reads the record, and the value may be personal data.
PAYLOAD_FIELDS = (
    "eventId",
    "subscriptionType",
    "objectId",
    "occurredAt",
    "attemptNumber",
    "changeSource",
    "portalId",
    "propertyName",
    "primaryObjectId",
    "newObjectId",
    "mergedObjectIds",
    "associationType",
    "fromObjectId",
    "toObjectId",
    "associationRemoved",
)


class MalformedBatchError(ValueError):
    """A webhook body that is not a JSON array of well-formed events.

    The message names the event's position and the field, never a value, so it
    is safe to log.
    """


@dataclass(frozen=True)
class WebhookEvent:
    """One validated webhook event; ids are strings, as in the rest of the engine."""

    event_id: str
    subscription_type: str
    object_id: str
    occurred_at: int | None
    payload: dict

    @property
    def crm_object(self):
        """HubSpot's object name, the part of subscriptionType before the dot."""
        return self.subscription_type.partition(".")[0]

    @property
    def kind(self):
        """Event kind, the part of subscriptionType after the dot."""
        return self.subscription_type.partition(".")[2]

    def job_route(self):
        """Return ``(object_type, operation)`` of the job for this event.

        Returns None for an event the engine does not handle (another object
        type or an unknown kind); the caller acknowledges and drops it.
        """
        object_type = HANDLED_OBJECT_TYPES.get(self.crm_object)
        operation = OPERATION_BY_KIND.get(self.kind)
        if object_type is None or operation is None:
            return None
        return object_type, operation

    def merge_ids(self):
        """Return ``(surviving_id, merged_ids)`` of a merge event.

        HubSpot keeps ``primaryObjectId`` as the surviving record unless the
        merge created a new record with the id ``newObjectId``. Then the
        primary id is gone too and counts as merged.
        """
        primary_id = self.payload.get("primaryObjectId")
        new_id = self.payload.get("newObjectId")
        surviving_id = str(new_id or primary_id)
        merged_ids = [str(crm_id) for crm_id in self.payload.get("mergedObjectIds", [])]
        if primary_id is not None and str(primary_id) != surviving_id:
            merged_ids.append(str(primary_id))
        merged_ids = [
            crm_id for crm_id in dict.fromkeys(merged_ids) if crm_id != surviving_id
        ]
        return surviving_id, merged_ids


def idempotency_key(backend_id, event_id):
    """Return the job key that makes one webhook event one job per backend."""
    return f"webhook:{backend_id}:{event_id}"


def parse_batch(body):
    """Parse a raw webhook body into a list of :class:`WebhookEvent`.

    Events repeated inside the batch (same ``eventId``) are kept once. Raises
    :class:`MalformedBatchError` for a body that is not UTF-8 JSON, not an array
    of objects, or contains an event without a valid id field.
    """
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise MalformedBatchError("The body is not UTF-8 text.") from error
    except ValueError as error:
        raise MalformedBatchError(
            f"The body is not valid JSON: {error.msg}."
        ) from error

    if not isinstance(document, list):
        raise MalformedBatchError(
            f"Expected a JSON array of events, got a JSON {_json_type(document)}."
        )

    events = {}
    for index, item in enumerate(document):
        event = _parse_event(index, item)
        events.setdefault(event.event_id, event)
    return list(events.values())


def _parse_event(index, item):
    if not isinstance(item, dict):
        raise MalformedBatchError(
            f"Event {index} is a JSON {_json_type(item)}, expected an object."
        )

    event_id = _require_id(index, item, "eventId")
    subscription_type = item.get("subscriptionType")
    if not isinstance(subscription_type, str) or not subscription_type.strip():
        raise MalformedBatchError(
            f"Event {index} field 'subscriptionType' is missing or not a string."
        )
    subscription_type = subscription_type.strip()

    # HubSpot's association events name both ends; older payloads carry
    # only fromObjectId, which is then the object the event is about.
    if "objectId" not in item and subscription_type.endswith(".associationChange"):
        object_id = _require_id(index, item, "fromObjectId")
    else:
        object_id = _require_id(index, item, "objectId")

    occurred_at = item.get("occurredAt")
    if occurred_at is not None and not _is_integer(occurred_at):
        raise MalformedBatchError(
            f"Event {index} field 'occurredAt' is not epoch milliseconds."
        )

    if subscription_type.endswith(".merge"):
        _check_merge_fields(index, item)

    payload = {name: item[name] for name in PAYLOAD_FIELDS if name in item}
    payload["objectId"] = int(object_id)
    return WebhookEvent(
        event_id=event_id,
        subscription_type=subscription_type,
        object_id=object_id,
        occurred_at=occurred_at,
        payload=payload,
    )


def _check_merge_fields(index, item):
    if item.get("primaryObjectId") is None and item.get("newObjectId") is None:
        raise MalformedBatchError(
            f"Event {index} is a merge without 'primaryObjectId' or 'newObjectId'."
        )
    for name in ("primaryObjectId", "newObjectId"):
        if item.get(name) is not None:
            _require_id(index, item, name)
    merged_ids = item.get("mergedObjectIds")
    if not isinstance(merged_ids, list) or not all(
        _is_id(value) for value in merged_ids
    ):
        raise MalformedBatchError(
            f"Event {index} field 'mergedObjectIds' is missing or not a list of ids."
        )


def _require_id(index, item, name):
    value = item.get(name)
    if value is None:
        raise MalformedBatchError(f"Event {index} field '{name}' is missing.")
    if not _is_id(value):
        raise MalformedBatchError(f"Event {index} field '{name}' is not a numeric id.")
    return str(int(value))


def _is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value):
    """Tell whether ``value`` is a positive integer or a string of digits."""
    if _is_integer(value):
        return value > 0
    return (
        isinstance(value, str)
        and value.isascii()
        and value.isdigit()
        and int(value) > 0
    )


def _json_type(value):
    names = {dict: "object", list: "array", str: "string", bool: "boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "number")
