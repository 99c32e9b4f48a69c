"""Validation and normalisation of property values written through the API."""

import json
import math
import re

from . import schema
from .errors import PropertyError
from .timeutil import parse_datetime, to_iso

# A pragmatic address check: one "@", no spaces, a dot in the domain. HubSpot's
# own rule is not published; this rejects the malformed addresses of real exports.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def coerce_value(value):
    """Return a JSON property value as the string HubSpot would store."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def normalise_properties(object_type, properties, allow_read_only=False):
    """Return validated string values, or raise a list of PropertyError.

    An empty string clears a property. Read-only and unknown properties are
    rejected like HubSpot rejects them (READ_ONLY_VALUE, PROPERTY_DOESNT_EXIST).
    """
    if not isinstance(properties, dict):
        raise TypeError("properties must be a JSON object")

    values = {}
    errors = []
    for name, raw in properties.items():
        try:
            values[name] = _normalise_value(object_type, name, raw, allow_read_only)
        except PropertyError as error:
            errors.append(error)
    if errors:
        raise PropertyErrors(errors)
    return values


class PropertyErrors(Exception):
    """Several invalid property values of one input."""

    def __init__(self, errors):
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors


def _normalise_value(object_type, name, raw, allow_read_only):
    definition = object_type.properties.get(name)
    if definition is None:
        raise PropertyError(
            name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
        )
    if (definition.read_only or definition.calculated) and not allow_read_only:
        raise PropertyError(
            name,
            "READ_ONLY_VALUE",
            f'"{name}" is a read only property; its value cannot be set.',
        )

    value = (
        coerce_value(raw).strip()
        if definition.type != schema.STRING
        else coerce_value(raw)
    )
    if value == "":
        return ""
    if definition.type == schema.NUMBER:
        return _check_number(name, value)
    if definition.type == schema.DATETIME:
        return _check_datetime(name, value)
    if definition.type == schema.ENUMERATION:
        return _check_option(name, value, definition.options)
    if name == "email":
        return _check_email(value.strip())
    return value


def _check_number(name, value):
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise PropertyError(name, "INVALID_DOUBLE", f"{value} was not a valid number.")
    return value


def _check_datetime(name, value):
    try:
        return to_iso(parse_datetime(value))
    except (ValueError, OverflowError, OSError):
        raise PropertyError(
            name,
            "INVALID_DATE",
            f"{value} is not a valid datetime: use epoch milliseconds or ISO-8601.",
        ) from None


def _check_option(name, value, options):
    if value in options:
        return value
    allowed = ", ".join(options)
    raise PropertyError(
        name,
        "INVALID_OPTION",
        f"{value} was not one of the allowed options: [{allowed}]",
    )


def _check_email(value):
    if _EMAIL.match(value):
        return value
    raise PropertyError("email", "INVALID_EMAIL", f"Email address {value} is invalid")


def email_is_valid(value):
    return bool(_EMAIL.match(value or ""))
