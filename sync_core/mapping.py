"""Field rules: which partner field maps to which CRM property, and who wins.

The rules are the personal-data allow-list. :func:`to_crm` sends only fields
that a rule names, and :func:`to_odoo` reads only properties that a rule
names. Both normalise every value with the rule's transform, and collect one
:class:`~.errors.InvalidValueError` per bad field instead of stopping at the
first, so one bad phone number never blocks a record's other fields.

Change decision
===============

:func:`decide` compares each side's current value with the fingerprint stored
at the last successful sync of that field. A side has *changed* when the
fingerprint of its normalised value differs from the stored one.

==================  =====================  ==================================
Odoo side           CRM side               Action
==================  =====================  ==================================
unchanged           unchanged              none
changed             unchanged              push if the rule sends Odoo to CRM
                                           (direction ``both``/``to_crm``),
                                           else none
unchanged           changed                pull if the rule sends CRM to Odoo
                                           (direction ``both``/``to_odoo``),
                                           else none
changed             changed, same value    none (store the new fingerprint)
changed             changed, other value   owner ``odoo``: push, owner
                                           ``crm``: pull, owner ``both``:
                                           conflict
==================  =====================  ==================================

"none" never overwrites anything, so a side that did not change never
overwrites a side that did. A one-way rule ignores changes made on its target
side (they stay there until the source side changes again).

``owner`` decides only the both-changed case. Timestamps cannot decide it for
owner ``both``: "the newer change wins" is safe only when the other side did
not change since the last sync, and that is the "only one side changed" row.
When both changed, the timestamps go into the conflict's reason so that a
person can choose.

First sync (no stored fingerprint): equal values link without writing. When
one side is empty, the other side's value fills it if the direction allows
that flow (an empty value never flows). When both are set and differ, the
owner wins, and owner ``both`` is a conflict.
"""

import dataclasses
import hashlib
import json
from typing import NamedTuple

from . import normalise
from .errors import InvalidValueError

OWNER_ODOO = "odoo"
OWNER_CRM = "crm"
OWNER_BOTH = "both"
OWNERS = (OWNER_ODOO, OWNER_CRM, OWNER_BOTH)

DIRECTION_BOTH = "both"
DIRECTION_TO_CRM = "to_crm"
DIRECTION_TO_ODOO = "to_odoo"
DIRECTIONS = (DIRECTION_BOTH, DIRECTION_TO_CRM, DIRECTION_TO_ODOO)

# Spellings the Odoo field rule model uses for the one-way directions.
DIRECTION_ALIASES = {"export": DIRECTION_TO_CRM, "import": DIRECTION_TO_ODOO}

ACTION_NONE = "none"
ACTION_PUSH = "push"
ACTION_PULL = "pull"
ACTION_CONFLICT = "conflict"

TRANSFORM_NONE = "none"
TRANSFORM_TEXT = "text"
TRANSFORM_PHONE = "phone"
TRANSFORM_EMAIL = "email"
TRANSFORM_COUNTRY = "country"
TRANSFORM_VAT = "vat"
TRANSFORM_COMPANY_NUMBER = "company_number"
TRANSFORM_DOMAIN = "domain"
# A full name in Odoo against first name (crm_property) and last name
# (crm_property_2) in the CRM.
TRANSFORM_PERSON_NAME = "person_name"
# Parent company through a CRM association. The Odoo layer resolves it, so
# to_crm() and to_odoo() skip rules with this transform.
TRANSFORM_PARENT_COMPANY = "parent_company"

TRANSFORMS = (
    TRANSFORM_NONE,
    TRANSFORM_TEXT,
    TRANSFORM_PHONE,
    TRANSFORM_EMAIL,
    TRANSFORM_COUNTRY,
    TRANSFORM_VAT,
    TRANSFORM_COMPANY_NUMBER,
    TRANSFORM_DOMAIN,
    TRANSFORM_PERSON_NAME,
    TRANSFORM_PARENT_COMPANY,
)
_ASSOCIATION_TRANSFORMS = frozenset({TRANSFORM_PARENT_COMPANY})

# Fingerprint of an empty value (None, "" and False all count as empty).
EMPTY_FINGERPRINT = hashlib.sha256(b"null").hexdigest()


@dataclasses.dataclass(frozen=True)
class FieldRule:
    """Mapping of one Odoo field to one CRM property, with owner and direction.

    ``object_type`` ("company", "contact" ...) limits the rule to that kind
    of record, and None applies it to all. ``direction`` also accepts the
    Odoo model's "export" and "import", stored as "to_crm" and "to_odoo".
    """

    odoo_field: str
    crm_property: str
    owner: str = OWNER_BOTH
    direction: str = DIRECTION_BOTH
    transform: str = TRANSFORM_TEXT
    object_type: str | None = None
    crm_property_2: str | None = None

    def __post_init__(self):
        direction = DIRECTION_ALIASES.get(self.direction, self.direction)
        object.__setattr__(self, "direction", direction)
        self._check_choices()
        self._check_owner_can_flow()
        if self.transform == TRANSFORM_PERSON_NAME and not self.crm_property_2:
            raise ValueError(
                f"Field rule {self.odoo_field!r}: the person_name transform needs "
                "crm_property_2 for the last name."
            )

    def sends_to_crm(self):
        """Return whether Odoo's values may flow to the CRM under this rule."""
        return self.direction in (DIRECTION_BOTH, DIRECTION_TO_CRM)

    def sends_to_odoo(self):
        """Return whether the CRM's values may flow to Odoo under this rule."""
        return self.direction in (DIRECTION_BOTH, DIRECTION_TO_ODOO)

    def _check_choices(self):
        for name, value, allowed in (
            ("owner", self.owner, OWNERS),
            ("direction", self.direction, DIRECTIONS),
            ("transform", self.transform, TRANSFORMS),
        ):
            if value not in allowed:
                raise ValueError(
                    f"Field rule {self.odoo_field!r}: {name} {value!r} is not one "
                    f"of {', '.join(allowed)}."
                )

    def _check_owner_can_flow(self):
        # An owner whose values can never leave its side could never win,
        # so such a rule is a configuration mistake.
        if (self.owner == OWNER_ODOO and not self.sends_to_crm()) or (
            self.owner == OWNER_CRM and not self.sends_to_odoo()
        ):
            raise ValueError(
                f"Field rule {self.odoo_field!r}: owner {self.owner!r} cannot win "
                f"with direction {self.direction!r}, because its values never "
                "reach the other side."
            )


class MappedValues(NamedTuple):
    """Values ready to write on the target side, and the fields that failed."""

    values: dict
    errors: list


class Decision(NamedTuple):
    """Action for one field after comparing both sides.

    ``value`` is the normalised value to write (for push and pull).
    ``fingerprint`` is the fingerprint to store as "last synced" once the
    action succeeded, or None to keep the stored one.
    """

    action: str
    value: object
    reason: str
    fingerprint: str | None = None


# --------------------------------------------------------------------------
# Value mapping
# --------------------------------------------------------------------------


def to_crm(odoo_values, rules, context=None):
    """Map Odoo field values to CRM properties through the rules.

    Only rules that send values to the CRM are used, and only for fields
    present in ``odoo_values`` (partial updates stay partial). Empty values
    become "" because the CRM clears a property that way.

    ``context`` keys, all optional: ``object_type`` (use only that type's
    rules), ``record_ref`` and ``record_type`` (named in errors),
    ``country_code`` (region for phone numbers and VAT; by default the
    record's own country field, else GB).
    """
    context = context or {}
    active = [rule for rule in _rules_for(rules, context) if rule.sends_to_crm()]
    region = context.get("country_code") or _region_from(active, odoo_values, "odoo")
    values, errors = {}, []
    for rule in active:
        if rule.odoo_field not in odoo_values:
            continue
        raw = odoo_values[rule.odoo_field]
        try:
            normal = normalise_value(rule, raw, region)
        except InvalidValueError as error:
            errors.append(_with_context(error, rule.odoo_field, context))
            continue
        values.update(_crm_properties(rule, normal))
    return MappedValues(values, errors)


def to_odoo(crm_properties, rules, context=None):
    """Map CRM properties to Odoo field values through the rules.

    Only rules that send values to Odoo are used, and only for properties
    present in ``crm_properties``. Empty values become False, as Odoo stores
    them. A country comes back as its alpha-2 code, which the Odoo layer
    turns into a ``res.country`` record. ``context`` is as for :func:`to_crm`.
    """
    context = context or {}
    active = [rule for rule in _rules_for(rules, context) if rule.sends_to_odoo()]
    region = context.get("country_code") or _region_from(active, crm_properties, "crm")
    values, errors = {}, []
    for rule in active:
        if not _crm_properties_present(rule, crm_properties):
            continue
        raw = crm_value(rule, crm_properties)
        try:
            normal = normalise_value(rule, raw, region)
        except InvalidValueError as error:
            errors.append(_with_context(error, rule.crm_property, context))
            continue
        values[rule.odoo_field] = False if normal is None else normal
    return MappedValues(values, errors)


def crm_value(rule, crm_properties):
    """Return the CRM's value for a rule: one property, or a joined full name."""
    if rule.transform == TRANSFORM_PERSON_NAME:
        parts = (
            normalise.clean_text(crm_properties.get(rule.crm_property)),
            normalise.clean_text(crm_properties.get(rule.crm_property_2)),
        )
        return " ".join(part for part in parts if part) or None
    return crm_properties.get(rule.crm_property)


def normalise_value(rule, raw, region=None):
    """Return ``raw`` normalised by the rule's transform (None when empty).

    Raises InvalidValueError for a value the transform cannot normalise.
    """
    transform = rule.transform
    if transform == TRANSFORM_NONE:
        return None if raw is None or raw == "" else raw
    if transform in (TRANSFORM_TEXT, TRANSFORM_PERSON_NAME):
        return normalise.clean_text(raw)
    if transform == TRANSFORM_PHONE:
        return normalise.phone_e164(raw, region or normalise.DEFAULT_REGION)
    if transform == TRANSFORM_EMAIL:
        return normalise.email(raw)
    if transform == TRANSFORM_COUNTRY:
        return normalise.country_code(_country_name_or_code(raw))
    if transform == TRANSFORM_VAT:
        return normalise.vat(raw, region or normalise.DEFAULT_REGION)
    if transform == TRANSFORM_COMPANY_NUMBER:
        return normalise.company_number(raw)
    if transform == TRANSFORM_DOMAIN:
        return normalise.website_domain(raw)
    raise ValueError(f"Transform {transform!r} has no value normalisation.")


def _rules_for(rules, context):
    object_type = context.get("object_type")
    return [
        rule
        for rule in rules
        if rule.transform not in _ASSOCIATION_TRANSFORMS
        and (object_type is None or rule.object_type in (None, object_type))
    ]


def _region_from(rules, values, side):
    # The record's own country decides how national phone numbers are read.
    for rule in rules:
        if rule.transform != TRANSFORM_COUNTRY:
            continue
        key = rule.odoo_field if side == "odoo" else rule.crm_property
        try:
            return normalise.country_code(_country_name_or_code(values.get(key)))
        except InvalidValueError:
            return None
    return None


def _country_name_or_code(raw):
    # Odoo's read() returns a many2one as an (id, display name) pair.
    if isinstance(raw, (tuple, list)) and len(raw) == 2:
        return raw[1]
    return raw


def _crm_properties(rule, normal):
    if rule.transform == TRANSFORM_PERSON_NAME:
        first_name, last_name = split_person_name(normal)
        return {rule.crm_property: first_name, rule.crm_property_2: last_name}
    return {rule.crm_property: "" if normal is None else normal}


def _crm_properties_present(rule, crm_properties):
    if rule.transform == TRANSFORM_PERSON_NAME:
        return (
            rule.crm_property in crm_properties or rule.crm_property_2 in crm_properties
        )
    return rule.crm_property in crm_properties


def split_person_name(full_name):
    """Split a full name into (first name, last name) at the last space.

    "Mary Ann Smith" gives ("Mary Ann", "Smith"), and a single word is a
    first name with an empty last name.
    NOTE: names whose family name has several words ("Ana de la Cruz") are
    split wrongly. Joining the two parts again gives the original name, so
    no text is lost.
    """
    if not full_name:
        return "", ""
    first_name, _space, last_name = full_name.rpartition(" ")
    if not first_name:
        return last_name, ""
    return first_name, last_name


def _with_context(error, field, context):
    return error.with_context(
        field=field,
        record_ref=context.get("record_ref"),
        record_type=context.get("record_type"),
    )


# --------------------------------------------------------------------------
# Change decision
# --------------------------------------------------------------------------


def fingerprint(value):
    """Return a stable SHA-256 hex digest of a normalised value.

    None, "" and False give the same digest (:data:`EMPTY_FINGERPRINT`).
    Other values are encoded as canonical JSON, so equal values give equal
    digests across processes and Python versions.
    """
    if value is None or value == "" or value is False:
        return EMPTY_FINGERPRINT
    encoded = json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def decide(
    rule,
    odoo_value,
    crm_value,
    last_synced_fingerprint,
    odoo_changed_at=None,
    crm_changed_at=None,
    region=None,
):
    """Return the Decision for one field; the module docstring has the table.

    For a person_name rule, pass the CRM's joined name from :func:`crm_value`.
    Values are compared after normalisation with the rule's transform. A
    value that fails normalisation is compared as cleaned text, so it still
    has a stable fingerprint, and it is reported when the caller writes it
    with to_crm() or to_odoo(). ``odoo_changed_at`` and ``crm_changed_at``
    (datetimes) only feed the reason of a conflict.
    """
    odoo_normal = _comparable(rule, odoo_value, region)
    crm_normal = _comparable(rule, crm_value, region)
    odoo_digest = fingerprint(odoo_normal)
    crm_digest = fingerprint(crm_normal)

    if odoo_digest == crm_digest:
        return Decision(
            ACTION_NONE, None, "Both sides have the same value.", odoo_digest
        )
    if last_synced_fingerprint is None:
        return _decide_first_sync(
            rule, odoo_normal, crm_normal, odoo_digest, crm_digest
        )

    odoo_changed = odoo_digest != last_synced_fingerprint
    crm_changed = crm_digest != last_synced_fingerprint
    if odoo_changed and not crm_changed:
        return _one_side_changed(rule, "odoo", odoo_normal, odoo_digest)
    if crm_changed and not odoo_changed:
        return _one_side_changed(rule, "crm", crm_normal, crm_digest)
    return _both_changed(
        rule,
        odoo_normal,
        crm_normal,
        odoo_digest,
        crm_digest,
        odoo_changed_at,
        crm_changed_at,
    )


def _comparable(rule, value, region):
    if rule.transform in _ASSOCIATION_TRANSFORMS:
        return value
    try:
        return normalise_value(rule, value, region)
    except InvalidValueError:
        return normalise.clean_text(value)


def _decide_first_sync(rule, odoo_normal, crm_normal, odoo_digest, crm_digest):
    if crm_digest == EMPTY_FINGERPRINT:
        return _flow(
            rule, "odoo", odoo_normal, odoo_digest, "First sync: the CRM is empty."
        )
    if odoo_digest == EMPTY_FINGERPRINT:
        return _flow(rule, "crm", crm_normal, crm_digest, "First sync: Odoo is empty.")
    return _owner_wins(
        rule,
        odoo_normal,
        crm_normal,
        odoo_digest,
        crm_digest,
        "First sync: the sides have different values.",
    )


def _one_side_changed(rule, side, normal, digest):
    label = "Odoo" if side == "odoo" else "The CRM"
    return _flow(rule, side, normal, digest, f"{label} changed since the last sync.")


def _both_changed(
    rule,
    odoo_normal,
    crm_normal,
    odoo_digest,
    crm_digest,
    odoo_changed_at,
    crm_changed_at,
):
    reason = "Both sides changed since the last sync."
    if odoo_changed_at and crm_changed_at:
        newer = "Odoo" if odoo_changed_at > crm_changed_at else "the CRM"
        reason += (
            f" Odoo changed at {odoo_changed_at.isoformat()}, the CRM at "
            f"{crm_changed_at.isoformat()}, so {newer} changed last."
        )
    return _owner_wins(rule, odoo_normal, crm_normal, odoo_digest, crm_digest, reason)


def _owner_wins(rule, odoo_normal, crm_normal, odoo_digest, crm_digest, reason):
    if rule.owner == OWNER_ODOO:
        return Decision(
            ACTION_PUSH, odoo_normal, f"{reason} Odoo owns the field.", odoo_digest
        )
    if rule.owner == OWNER_CRM:
        return Decision(
            ACTION_PULL, crm_normal, f"{reason} The CRM owns the field.", crm_digest
        )
    return Decision(
        ACTION_CONFLICT,
        None,
        f"{reason} Both sides own the field, so a person must choose.",
    )


def _flow(rule, side, normal, digest, reason):
    # "side" is where the value comes from.
    if side == "odoo" and rule.sends_to_crm():
        return Decision(ACTION_PUSH, normal, reason, digest)
    if side == "crm" and rule.sends_to_odoo():
        return Decision(ACTION_PULL, normal, reason, digest)
    target = "the CRM" if side == "odoo" else "Odoo"
    return Decision(
        ACTION_NONE, None, f"{reason} The rule does not send values to {target}."
    )
