"""Thread-safe in-memory CRM store: records, associations, merges and change events.

Every write goes through one re-entrant lock. Each change is reported to the
registered listeners as a plain event dict (the webhook dispatcher is one), and
each property change is kept in the property's history with its change source.

Timestamps come from ``store.clock``, a callable returning a datetime. Tests set
it to make many records share one ``hs_lastmodifieddate`` or to move time back
(clock skew). The default clock is the machine's UTC time.
"""

import itertools
import logging
import threading
from dataclasses import dataclass, field

from . import schema
from .errors import ApiError, not_found, property_values_invalid, validation_error
from .timeutil import to_epoch_ms, to_iso, truncate_to_ms, utc_now
from .validation import PropertyErrors, normalise_properties

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeSource:
    """Origin of a change, as HubSpot reports it in webhooks and property history.

    ``source_type`` is HubSpot's change source: ``INTEGRATION`` for an app's API
    call (``source_id`` is the app id), ``CRM_UI`` for a user in HubSpot
    (``source_id`` is ``userId:<id>``), ``IMPORT`` for a file import.
    """

    source_type: str
    source_id: str | None = None


# Changes made through the store's Python methods count as a CRM user's edits.
DEFAULT_USER_ID = 7_700_001
CRM_USER = ChangeSource("CRM_UI", f"userId:{DEFAULT_USER_ID}")
IMPORT = ChangeSource("IMPORT", "import")


@dataclass
class HistoryEntry:
    value: str
    timestamp: str
    source_type: str
    source_id: str | None

    def as_json(self):
        entry = {
            "value": self.value,
            "timestamp": self.timestamp,
            "sourceType": self.source_type,
        }
        if self.source_id:
            entry["sourceId"] = self.source_id
        return entry


@dataclass
class Record:
    """One CRM object. ``values`` holds only the properties that have a value."""

    object_type: str
    id: str
    created_at: object
    updated_at: object
    values: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    archived: bool = False
    archived_at: object = None

    def properties(self):
        """Return every property with a value, system properties included."""
        properties = dict(self.values)
        properties["hs_object_id"] = self.id
        properties.setdefault("createdate", to_iso(self.created_at))
        properties["hs_lastmodifieddate"] = to_iso(self.updated_at)
        if self.object_type == "contacts":
            properties["lastmodifieddate"] = to_iso(self.updated_at)
        return properties

    def snapshot(self):
        """Return the record as HubSpot's SimplePublicObject with every property."""
        data = {
            "id": self.id,
            "properties": self.properties(),
            "createdAt": to_iso(self.created_at),
            "updatedAt": to_iso(self.updated_at),
            "archived": self.archived,
        }
        if self.archived_at is not None:
            data["archivedAt"] = to_iso(self.archived_at)
        return data


class Store:
    """The sandbox portal's data. Public methods are safe to call from any thread."""

    def __init__(self, clock=None):
        self.clock = clock or utc_now
        self.listeners = []
        self._lock = threading.RLock()
        self.reset()

    # -- housekeeping --------------------------------------------------

    def reset(self):
        """Delete every record, association, custom property and import key."""
        with self._lock:
            self.object_types = schema.build_object_types()
            self._records = {name: {} for name in self.object_types}
            # Ids of merged-away records, mapped to the record they now belong to.
            self._aliases = {name: {} for name in self.object_types}
            # (from_type, from_id, to_type) -> {to_id: set of type ids}
            self._associations = {}
            self._counters = {
                name: itertools.count(object_type.id_base)
                for name, object_type in self.object_types.items()
            }
            # CSV loader keys (mapping, key) -> (object type, id), across loads.
            self.import_index = {}

    def now(self):
        return truncate_to_ms(self.clock())

    @property
    def lock(self):
        return self._lock

    def object_type(self, name):
        """Return the ObjectType for a URL name (``contacts``, ``contact``, ``0-1``)."""
        canonical = schema.OBJECT_TYPE_ALIASES.get(str(name).lower())
        if canonical is None:
            raise validation_error(f"Unable to infer object type from: {name}")
        return self.object_types[canonical]

    def define_property(
        self,
        object_type,
        name,
        value_type=schema.STRING,
        options=(),
        unique=False,
        **details,
    ):
        """Add a custom property, as a portal admin would in HubSpot's settings.

        ``details`` sets the definition's descriptive fields: ``label``,
        ``field_type``, ``group_name``, ``description`` and ``option_labels``.
        An existing property of that name is replaced.
        """
        with self._lock:
            definition = schema.PropertyDefinition(
                name,
                value_type,
                tuple(options),
                unique=unique,
                hubspot_defined=False,
                created_at=self.now(),
                **details,
            )
            self.object_type(object_type).properties[name] = definition
            return definition

    def stats(self):
        """Return counts of live and archived records per object type."""
        with self._lock:
            counts = {}
            for name, records in self._records.items():
                archived = sum(1 for record in records.values() if record.archived)
                counts[name] = {"total": len(records) - archived, "archived": archived}
            # Each association is stored once per direction.
            directed = sum(len(targets) for targets in self._associations.values())
            counts["associations"] = directed // 2
            return counts

    # -- reading -------------------------------------------------------

    def get(self, object_type, object_id, archived=False, id_property=None):
        """Return a record snapshot, or None when there is none.

        A merged-away id returns the record it was merged into, as HubSpot does.
        With ``archived=True`` only archived records are returned.
        """
        with self._lock:
            record = self.find(object_type, object_id, archived, id_property)
            return record.snapshot() if record else None

    def all(self, object_type, archived=False):
        """Return snapshots of all live (or all archived) records, oldest id first."""
        with self._lock:
            return [record.snapshot() for record in self.records(object_type, archived)]

    def records(self, object_type, archived=False):
        """Return the Record objects in id order; hold ``store.lock`` to use them."""
        name = self.object_type(object_type).name
        with self._lock:
            selected = [
                r for r in self._records[name].values() if r.archived == archived
            ]
            return sorted(selected, key=lambda record: int(record.id))

    def require(self, object_type, object_id, archived=False, id_property=None):
        """Return the Record or raise the 404 HubSpot returns."""
        record = self.find(object_type, object_id, archived, id_property)
        if record is None:
            raise not_found(self.object_type(object_type).name, object_id)
        return record

    def find(self, object_type, object_id, archived=False, id_property=None):
        """Return the Record or None. Hold ``store.lock`` while using it."""
        name = self.object_type(object_type).name
        if id_property and id_property != "hs_object_id":
            return self._find_by_unique_property(name, id_property, object_id, archived)

        object_id = str(object_id)
        object_id = self._aliases[name].get(object_id, object_id)
        record = self._records[name].get(object_id)
        if record is None or record.archived != archived:
            return None
        return record

    def _find_by_unique_property(self, name, id_property, value, archived):
        definition = self.object_types[name].properties.get(id_property)
        if definition is None or not definition.unique:
            raise validation_error(
                f"Property {id_property} is not a unique identifier of {name}: "
                f"use hs_object_id or a property with unique values (contacts: email)."
            )
        expected = str(value).strip().lower()
        for record in self._records[name].values():
            if record.archived != archived:
                continue
            if record.values.get(id_property, "").strip().lower() == expected:
                return record
        return None

    # -- writing -------------------------------------------------------

    def create(
        self,
        object_type,
        properties,
        associations=None,
        source=CRM_USER,
        emit_events=True,
    ):
        """Create a record and return its snapshot.

        ``associations`` is a list of ``{"to": {"id"}, "types": [AssociationSpec]}``
        as in HubSpot's create input. Raises ApiError for invalid values.
        """
        with self._lock:
            object_type = self.object_type(object_type)
            values = self._validated(object_type, properties)
            self._check_unique_values(object_type, values, record_id=None)
            association_inputs = self._parse_create_associations(
                object_type.name, associations or []
            )

            now = self.now()
            record = Record(
                object_type.name, str(next(self._counters[object_type.name])), now, now
            )
            self._apply_values(record, values, source, now)
            self._records[object_type.name][record.id] = record

            self._emit_event(
                record, "creation", source, emit_events, changeFlag="CREATED"
            )
            self._emit_property_changes(record, values, source, emit_events)
            for to_type, to_id, type_ids in association_inputs:
                self.associate(
                    object_type.name,
                    record.id,
                    to_type,
                    to_id,
                    type_ids,
                    source,
                    emit_events,
                )
            _logger.debug("created %s %s", object_type.name, record.id)
            return record.snapshot()

    def update(
        self,
        object_type,
        object_id,
        properties,
        source=CRM_USER,
        id_property=None,
        emit_events=True,
    ):
        """Update a record's properties and return its snapshot.

        Only values that differ from the stored ones count as changes: they get
        a history entry, a propertyChange event and a new ``hs_lastmodifieddate``.
        """
        with self._lock:
            object_type = self.object_type(object_type)
            record = self.require(object_type.name, object_id, id_property=id_property)
            values = self._validated(object_type, properties)
            self._check_unique_values(object_type, values, record_id=record.id)

            changed = {
                name: value
                for name, value in values.items()
                if record.values.get(name, "") != value
            }
            if not changed:
                return record.snapshot()

            now = self.now()
            self._apply_values(record, changed, source, now)
            record.updated_at = now
            self._emit_property_changes(record, changed, source, emit_events)
            _logger.debug(
                "updated %s %s: %d properties",
                object_type.name,
                record.id,
                len(changed),
            )
            return record.snapshot()

    def archive(self, object_type, object_id, source=CRM_USER, emit_events=True):
        """Archive (delete) a record. Archiving an unknown or archived id does nothing.

        Returns whether a record was archived. Its associations are removed.
        """
        with self._lock:
            object_type = self.object_type(object_type)
            record = self.find(object_type.name, object_id)
            if record is None:
                return False

            now = self.now()
            record.archived = True
            record.archived_at = now
            record.updated_at = now
            self._drop_associations(object_type.name, record.id)
            self._emit_event(
                record, "deletion", source, emit_events, changeFlag="DELETED"
            )
            _logger.debug("archived %s %s", object_type.name, record.id)
            return True

    def merge(
        self, object_type, primary_id, merged_id, source=CRM_USER, emit_events=True
    ):
        """Merge ``merged_id`` into ``primary_id`` and return the primary's snapshot.

        The primary keeps its id and values. Properties empty on the primary take
        the merged record's values, and its associations move to the primary. The
        merged record is archived, and its id stays an alias of the primary.
        """
        with self._lock:
            object_type = self.object_type(object_type)
            primary = self.require(object_type.name, primary_id)
            merged = self.require(object_type.name, merged_id)
            if primary.id == merged.id:
                raise validation_error(
                    f"Cannot merge {object_type.name} {primary.id} into itself."
                )

            now = self.now()
            moved = {
                name: value
                for name, value in merged.values.items()
                if name != "hs_merged_object_ids" and not primary.values.get(name)
            }
            merged_ids = [
                *self._merged_ids(primary),
                merged.id,
                *self._merged_ids(merged),
            ]
            moved_count = len(moved)
            moved["hs_merged_object_ids"] = ";".join(merged_ids)
            self._apply_values(primary, moved, source, now)
            primary.updated_at = now

            self._move_associations(object_type.name, merged.id, primary.id)
            merged.archived = True
            merged.archived_at = now
            merged.updated_at = now
            aliases = self._aliases[object_type.name]
            for alias, target in list(aliases.items()):
                if target == merged.id:
                    aliases[alias] = primary.id
            aliases[merged.id] = primary.id

            self._emit_event(
                primary,
                "merge",
                source,
                emit_events,
                primaryObjectId=int(primary.id),
                mergedObjectIds=[int(merged.id)],
                newObjectId=int(primary.id),
                numberOfPropertiesMoved=moved_count,
            )
            _logger.debug(
                "merged %s %s into %s", object_type.name, merged.id, primary.id
            )
            return primary.snapshot()

    @staticmethod
    def _merged_ids(record):
        text = record.values.get("hs_merged_object_ids", "")
        return [part for part in text.split(";") if part]

    def _validated(self, object_type, properties):
        try:
            return normalise_properties(object_type, properties or {})
        except PropertyErrors as errors:
            raise property_values_invalid(errors.errors) from None
        except TypeError as error:
            raise validation_error(f"Invalid input: {error}") from None

    def _check_unique_values(self, object_type, values, record_id):
        for name, value in values.items():
            definition = object_type.properties[name]
            if not definition.unique or not value:
                continue
            other = self._find_by_unique_property(
                object_type.name, name, value, archived=False
            )
            if other is not None and other.id != record_id:
                label = object_type.singular.capitalize()
                raise ApiError(
                    409,
                    f"{label} already exists. Existing ID: {other.id}",
                    "CONFLICT",
                    context={"existingId": [other.id], "propertyName": [name]},
                )

    def _apply_values(self, record, values, source, moment):
        timestamp = to_iso(moment)
        for name, value in values.items():
            if value == "":
                record.values.pop(name, None)
            else:
                record.values[name] = value
            entry = HistoryEntry(value, timestamp, source.source_type, source.source_id)
            record.history.setdefault(name, []).insert(0, entry)
        if record.object_type == "line_items":
            self._calculate_line_item_amount(record)

    @staticmethod
    def _calculate_line_item_amount(record):
        """Set amount = price x quantity less discount, as HubSpot calculates it."""
        try:
            price = float(record.values.get("price", "0"))
            quantity = float(record.values.get("quantity", "1"))
            discount = float(record.values.get("discount", "0"))
            percentage = float(record.values.get("hs_discount_percentage", "0"))
        except ValueError:
            return
        amount = price * quantity
        amount -= discount * quantity if discount else amount * percentage / 100
        record.values["amount"] = f"{amount:.2f}"

    # -- associations --------------------------------------------------

    def _parse_create_associations(self, from_type, associations):
        parsed = []
        for association in associations:
            try:
                to_id = str(association["to"]["id"])
                specs = association["types"]
                type_ids = [int(spec["associationTypeId"]) for spec in specs]
            except (KeyError, TypeError, ValueError):
                raise validation_error(
                    "Invalid association input: expected "
                    '{"to": {"id": ...}, "types": '
                    '[{"associationCategory", "associationTypeId"}]}'
                ) from None
            association_type = self.association_type(type_ids[0]) if type_ids else None
            if association_type is None or association_type.from_type != from_type:
                raise validation_error(
                    f"Association type {type_ids} is not valid from {from_type}."
                )
            self.require(association_type.to_type, to_id)
            parsed.append((association_type.to_type, to_id, type_ids))
        return parsed

    @staticmethod
    def association_type(type_id):
        return schema.ASSOCIATION_TYPES.get(int(type_id))

    def associate(
        self,
        from_type,
        from_id,
        to_type,
        to_id,
        type_ids=None,
        source=CRM_USER,
        emit_events=True,
    ):
        """Associate two records and return the labels between them.

        ``type_ids`` are association type ids in the from-to direction; None
        creates the default (unlabeled) association. A primary type also creates
        the unlabeled one and replaces the record's previous primary, because a
        contact or deal has at most one primary company.
        """
        with self._lock:
            from_name = self.object_type(from_type).name
            to_name = self.object_type(to_type).name
            if not schema.association_pair_supported(from_name, to_name):
                raise validation_error(
                    f"Associations from {from_name} to {to_name} are not supported."
                )
            from_record = self.require(from_name, from_id)
            to_record = self.require(to_name, to_id)

            type_ids = self._checked_type_ids(from_name, to_name, type_ids)
            for type_id in type_ids:
                self._add_association(
                    from_name,
                    from_record.id,
                    to_name,
                    to_record.id,
                    type_id,
                    source,
                    emit_events,
                )
            return self.labels_between(from_name, from_record.id, to_name, to_record.id)

    def _checked_type_ids(self, from_name, to_name, type_ids):
        default = schema.default_association_type(from_name, to_name)
        if not type_ids:
            return [default.type_id]
        checked = []
        for type_id in type_ids:
            association_type = self.association_type(type_id)
            if association_type is None or (
                association_type.from_type,
                association_type.to_type,
            ) != (from_name, to_name):
                raise validation_error(
                    f"{type_id} is not a valid association type id "
                    f"from {from_name} to {to_name}."
                )
            if association_type.primary:
                checked.append(default.type_id)
            checked.append(association_type.type_id)
        return list(dict.fromkeys(checked))

    def _add_association(
        self, from_name, from_id, to_name, to_id, type_id, source, emit_events
    ):
        association_type = schema.ASSOCIATION_TYPES[type_id]
        if association_type.primary:
            # Only one primary per record: drop the primary flag from the old one.
            for other_id, types in self._targets(from_name, from_id, to_name).items():
                if type_id in types and other_id != to_id:
                    types.discard(type_id)
                    self._targets(to_name, other_id, from_name)[from_id].discard(
                        association_type.reverse_id
                    )

        forward = self._targets(from_name, from_id, to_name).setdefault(to_id, set())
        is_new = type_id not in forward
        forward.add(type_id)
        self._targets(to_name, to_id, from_name).setdefault(from_id, set()).add(
            association_type.reverse_id
        )
        if is_new and not association_type.primary:
            self._emit_association_change(
                from_name, from_id, to_name, to_id, False, source, emit_events
            )

    def unassociate(
        self, from_type, from_id, to_type, to_id, source=CRM_USER, emit_events=True
    ):
        """Remove every association between two records; return whether one existed."""
        with self._lock:
            from_name = self.object_type(from_type).name
            to_name = self.object_type(to_type).name
            from_id, to_id = str(from_id), str(to_id)
            existed = (
                self._targets(from_name, from_id, to_name).pop(to_id, None) is not None
            )
            self._targets(to_name, to_id, from_name).pop(from_id, None)
            if existed:
                self._emit_association_change(
                    from_name, from_id, to_name, to_id, True, source, emit_events
                )
            return existed

    def associations_of(self, from_type, from_id, to_type):
        """Return [(to_id, [AssociationType, ...])] of a record, in id order."""
        with self._lock:
            from_name = self.object_type(from_type).name
            to_name = self.object_type(to_type).name
            targets = self._associations.get((from_name, str(from_id), to_name), {})
            return [
                (to_id, [schema.ASSOCIATION_TYPES[t] for t in sorted(types)])
                for to_id, types in sorted(
                    targets.items(), key=lambda item: int(item[0])
                )
                if types
            ]

    def labels_between(self, from_type, from_id, to_type, to_id):
        for target_id, types in self.associations_of(from_type, from_id, to_type):
            if target_id == str(to_id):
                return [t.label for t in types if t.label]
        return []

    def _targets(self, from_name, from_id, to_name):
        return self._associations.setdefault((from_name, str(from_id), to_name), {})

    def _drop_associations(self, object_type, object_id):
        for key in [
            key
            for key in self._associations
            if key[0] == object_type and key[1] == object_id
        ]:
            for other_id in self._associations.pop(key):
                self._associations.get((key[2], other_id, object_type), {}).pop(
                    object_id, None
                )

    def _move_associations(self, object_type, old_id, new_id):
        for key in [
            key
            for key in self._associations
            if key[0] == object_type and key[1] == old_id
        ]:
            to_type = key[2]
            for other_id, types in self._associations.pop(key).items():
                self._associations.get((to_type, other_id, object_type), {}).pop(
                    old_id, None
                )
                for type_id in sorted(
                    types, key=lambda t: schema.ASSOCIATION_TYPES[t].primary
                ):
                    association_type = schema.ASSOCIATION_TYPES[type_id]
                    current = self._targets(object_type, new_id, to_type)
                    has_primary = any(type_id in kept for kept in current.values())
                    if association_type.primary and has_primary:
                        continue
                    self._add_association(
                        object_type, new_id, to_type, other_id, type_id, CRM_USER, False
                    )

    # -- events --------------------------------------------------------

    def _emit(self, event, emit_events):
        if not emit_events:
            return
        for listener in list(self.listeners):
            listener(event)

    def _base_event(self, object_type, object_id, kind, source):
        singular = self.object_types[object_type].singular
        event = {
            "subscriptionType": f"{singular}.{kind}",
            "objectId": int(object_id),
            "occurredAt": to_epoch_ms(self.now()),
            "changeSource": source.source_type,
        }
        if source.source_id:
            event["sourceId"] = source.source_id
        return event

    def _emit_event(self, record, kind, source, emit_events, **fields):
        if not emit_events or not self.listeners:
            return
        event = self._base_event(record.object_type, record.id, kind, source)
        event.update(fields)
        self._emit(event, emit_events)

    def _emit_property_changes(self, record, values, source, emit_events):
        if not emit_events or not self.listeners:
            return
        for name, value in values.items():
            event = self._base_event(
                record.object_type, record.id, "propertyChange", source
            )
            event["propertyName"] = name
            event["propertyValue"] = value
            self._emit(event, emit_events)

    def _emit_association_change(
        self, from_name, from_id, to_name, to_id, removed, source, emit_events
    ):
        if not emit_events or not self.listeners:
            return
        from_singular = self.object_types[from_name].singular.upper()
        to_singular = self.object_types[to_name].singular.upper()
        event = self._base_event(from_name, from_id, "associationChange", source)
        event.update(
            {
                "associationType": f"{from_singular}_TO_{to_singular}",
                "fromObjectId": int(from_id),
                "toObjectId": int(to_id),
                "associationRemoved": removed,
                "isPrimaryAssociation": False,
            }
        )
        self._emit(event, emit_events)
