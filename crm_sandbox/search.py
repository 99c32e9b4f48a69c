"""Evaluation of CRM search requests: filterGroups, sorts, query and paging.

Rules from HubSpot's CRM search guide:

- filters in a group are ANDed, and groups are ORed;
- at most 5 groups, 6 filters per group and 18 filters in all;
- values compare case-insensitively, except that enumeration values compare
  case-sensitively and the IN and NOT_IN values of a string property must be
  lowercase to match;
- date values may be epoch ms or ISO-8601;
- archived records never match;
- the page size is 10 by default and 200 at most, and ``after`` is an offset;
- no page may start beyond the first 10,000 results.
"""

import fnmatch
import math
import re

from . import schema
from .errors import validation_error
from .timeutil import parse_datetime, to_epoch_ms

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
DEFAULT_LIMIT = 10
MAX_LIMIT = 200
# HubSpot: "The search endpoints are limited to 10,000 total results for any
# given query. Attempting to page beyond 10,000 will result in a 400 error."
MAX_RESULTS = 10_000
# HubSpot rejects a search whose request body exceeds 3,000 characters.
MAX_BODY_CHARS = 3_000

OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}

_TOKEN_SPLIT = re.compile(r"[^\w@.*-]+", re.UNICODE)


def parse_paging(request):
    """Return (limit, offset) of a search request, or raise a 400."""
    try:
        limit = int(request.get("limit") or DEFAULT_LIMIT)
        offset = int(request.get("after") or 0)
    except (TypeError, ValueError):
        raise validation_error("limit and after must be integers.") from None
    if limit < 1 or limit > MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}, got {limit}.")
    if offset < 0:
        raise validation_error(f"after must not be negative, got {offset}.")
    if offset >= MAX_RESULTS:
        raise validation_error(
            f"Search results are limited to {MAX_RESULTS} per query: after={offset} "
            "pages beyond that. Narrow the query, for example with a "
            "hs_lastmodifieddate or hs_object_id filter, and start again."
        )
    return limit, offset


def check_filter_groups(filter_groups):
    """Raise a 400 VALIDATION_ERROR when the filters break HubSpot's limits."""
    if not isinstance(filter_groups, list):
        raise validation_error("filterGroups must be a list.")
    if len(filter_groups) > MAX_FILTER_GROUPS:
        raise validation_error(
            f"Too many filter groups: {len(filter_groups)}, "
            f"the maximum is {MAX_FILTER_GROUPS}."
        )
    total = 0
    for group in filter_groups:
        filters = group.get("filters", []) if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise validation_error("Each filter group needs a list of filters.")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Too many filters in a group: {len(filters)}, the maximum is "
                f"{MAX_FILTERS_PER_GROUP}."
            )
        total += len(filters)
        for search_filter in filters:
            _check_filter(search_filter)
    if total > MAX_FILTERS:
        raise validation_error(
            f"Too many filters: {total}, the maximum is {MAX_FILTERS}."
        )


def _check_filter(search_filter):
    if not isinstance(search_filter, dict) or not search_filter.get("propertyName"):
        raise validation_error("Each filter needs a propertyName and an operator.")
    operator = search_filter.get("operator")
    if operator not in OPERATORS:
        raise validation_error(
            f"Unknown filter operator {operator!r}: "
            f"use one of {', '.join(sorted(OPERATORS))}."
        )
    if operator in ("IN", "NOT_IN") and not isinstance(
        search_filter.get("values"), list
    ):
        raise validation_error(f"The {operator} operator needs a values list.")
    if operator == "BETWEEN" and (
        search_filter.get("value") is None or search_filter.get("highValue") is None
    ):
        raise validation_error("The BETWEEN operator needs value and highValue.")


class Matcher:
    """Decides whether a record matches a search request's filters and query."""

    def __init__(self, object_type, filter_groups, query, association_lookup):
        self.object_type = object_type
        self.filter_groups = filter_groups
        self.query = (query or "").strip().lower()
        # Callable (record, to_type) -> set of associated ids, for associations.*.
        self.association_lookup = association_lookup

    def matches(self, record):
        properties = record.properties()
        if self.query and not self._matches_query(properties):
            return False
        if not self.filter_groups:
            return True
        return any(
            all(
                self._matches_filter(record, properties, f)
                for f in group.get("filters", [])
            )
            for group in self.filter_groups
        )

    def _matches_query(self, properties):
        searchable = [
            name
            for name, definition in self.object_type.properties.items()
            if definition.searchable
        ]
        return any(
            self.query in properties.get(name, "").lower() for name in searchable
        )

    def _matches_filter(self, record, properties, search_filter):
        name = search_filter["propertyName"]
        operator = search_filter["operator"]
        if name.startswith("associations."):
            return self._matches_association(record, name, operator, search_filter)

        value = properties.get(name)
        if operator == "HAS_PROPERTY":
            return bool(value)
        if operator == "NOT_HAS_PROPERTY":
            return not value
        if operator in ("NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN"):
            return not self._positive(name, value, _POSITIVE[operator], search_filter)
        return self._positive(name, value, operator, search_filter)

    def _positive(self, name, value, operator, search_filter):
        if not value:
            return False
        kind = self._kind(name)
        if operator == "CONTAINS_TOKEN":
            return _contains_token(value, search_filter.get("value"))
        if operator == "IN":
            return _in_values(kind, value, search_filter["values"])
        if operator == "BETWEEN":
            low = comparable(kind, search_filter["value"])
            high = comparable(kind, search_filter["highValue"])
            return _compare(low, comparable(kind, value), high)

        actual = comparable(kind, value)
        expected = comparable(kind, search_filter.get("value"))
        if actual is None or expected is None:
            return False
        if operator == "EQ":
            return actual == expected
        return _ORDERINGS[operator](actual, expected)

    def _matches_association(self, record, name, operator, search_filter):
        to_type = schema.OBJECT_TYPE_ALIASES.get(name.split(".", 1)[1])
        associated = self.association_lookup(record, to_type) if to_type else set()
        if operator == "EQ":
            return str(search_filter.get("value")) in associated
        if operator == "IN":
            return bool(associated & {str(v) for v in search_filter["values"]})
        if operator == "HAS_PROPERTY":
            return bool(associated)
        if operator == "NOT_HAS_PROPERTY":
            return not associated
        raise validation_error(f"Operator {operator} is not supported on {name}.")

    def _kind(self, name):
        return property_kind(self.object_type, name)


def property_kind(object_type, name):
    """Return the value type a property compares as; unknown ones as strings."""
    if name == "hs_object_id":
        return schema.NUMBER
    definition = object_type.properties.get(name)
    return definition.type if definition else schema.STRING


_POSITIVE = {"NEQ": "EQ", "NOT_IN": "IN", "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN"}
_ORDERINGS = {
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
}


def _in_values(kind, value, values):
    """Return whether ``value`` is in ``values``, as HubSpot's IN operator decides.

    The record's value is lowercased, and the listed values are taken as sent,
    so a listed value with a capital letter never matches.
    """
    if kind == schema.STRING:
        return str(value).strip().lower() in {str(v).strip() for v in values}
    return comparable(kind, value) in [comparable(kind, v) for v in values]


def _compare(low, value, high):
    if None in (low, value, high):
        return False
    return low <= value <= high


def comparable(kind, value):
    """Return a value that compares the way HubSpot compares the property type.

    Numbers compare numerically, datetimes as epoch ms (either format is
    accepted), enumeration values case-sensitively and strings
    case-insensitively. Returns None when the value cannot be read as the
    property's type.
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        if kind == schema.NUMBER:
            number = float(text)
            return number if math.isfinite(number) else None
        if kind == schema.DATETIME:
            return to_epoch_ms(parse_datetime(text))
    except (ValueError, OverflowError, OSError):
        return None
    if kind == schema.ENUMERATION:
        return text
    return text.lower()


def _contains_token(value, token):
    """Match a whole value or one of its words against a token; ``*`` is a wildcard."""
    if token is None:
        return False
    pattern = str(token).strip().lower()
    text = value.lower()
    candidates = [text, *(word for word in _TOKEN_SPLIT.split(text) if word)]
    if "*" in pattern:
        return any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates)
    return pattern in candidates


def sort_records(records, object_type, sorts):
    """Return records in the order of the request's sort rule.

    HubSpot applies one sort rule. Without one, results come in creation order.
    Ties keep id order in either direction, so records that share a timestamp
    page in a stable order. Records without a value come last.
    """
    by_id = sorted(records, key=lambda record: int(record.id))
    if not sorts:
        return by_id
    if len(sorts) > 1:
        raise validation_error("Only one sort rule can be applied to a search.")

    name, descending = _parse_sort(sorts[0])
    kind = property_kind(object_type, name)
    keyed = [
        (comparable(kind, record.properties().get(name)), record) for record in by_id
    ]
    present = [item for item in keyed if item[0] is not None]
    missing = [record for value, record in keyed if value is None]
    # sorted() is stable with reverse=True too, so equal values keep id order.
    present.sort(key=lambda item: item[0], reverse=descending)
    return [record for _, record in present] + missing


def _parse_sort(rule):
    if isinstance(rule, str):
        # NOTE: the v12 Python client types sorts as strings. A leading "-" is
        # read as descending here; HubSpot documents only the object form.
        return rule.lstrip("-"), rule.startswith("-")
    if isinstance(rule, dict) and rule.get("propertyName"):
        direction = str(rule.get("direction", "ASCENDING")).upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise validation_error(f"Unknown sort direction {direction}.")
        return rule["propertyName"], direction == "DESCENDING"
    raise validation_error('A sort needs {"propertyName": ..., "direction": ...}.')
