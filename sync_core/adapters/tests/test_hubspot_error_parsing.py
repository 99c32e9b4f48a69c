import email.utils

import pytest

from sync_core import errors
from sync_core.adapters.hubspot_errors import (
    invalid_property_names,
    item_error,
    parse_retry_after,
    required_scopes,
)

NOW = 1_767_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        (
            {
                "X-HubSpot-RateLimit-Remaining": "0",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            },
            10.0,
        ),
        (
            {
                "X-HubSpot-RateLimit-Remaining": "12",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            },
            None,
        ),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers, now=NOW) == expected


def test_required_scopes_from_403_body():
    body = {
        "category": "MISSING_SCOPES",
        "errors": [
            {"context": {"requiredGranularScopes": ["crm.objects.deals.read"]}},
            {"context": {"requiredScopes": ["crm.objects.deals.read", "e-commerce"]}},
        ],
    }

    assert required_scopes(body) == ["crm.objects.deals.read", "e-commerce"]


def test_required_scopes_tolerates_odd_body():
    assert required_scopes({}) == []
    assert required_scopes({"errors": ["text", {"context": None}]}) == []


def test_invalid_property_names_from_message():
    body = {
        "message": (
            'Property values were not valid: [{"isValid": false, "name": "phone"}]'
        ),
        "errors": [{"context": {"propertyName": ["email"]}}],
    }

    assert invalid_property_names(body) == ["email", "phone"]


def test_item_error_duplicate_names_existing_id():
    entry = {
        "status": "error",
        "category": "CONFLICT",
        "message": "Contact already exists. Existing ID: 10000000042",
    }

    error = item_error(3, entry)

    assert error.index_or_id == 3
    assert error.category == errors.DUPLICATE
    assert error.existing_id == "10000000042"
    assert error.retryable is False


def test_item_error_unknown_category():
    error = item_error("77", {"category": "SOMETHING_NEW"})

    assert error.category == errors.INTERNAL
    assert error.message == "The CRM rejected this input (SOMETHING_NEW)."
