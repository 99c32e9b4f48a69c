import email.utils
import json

import pytest
import requests

from sync_core import errors
from sync_core.adapters import CrmValidationError
from sync_core.adapters.hubspot_errors import (
    error_from_response,
    invalid_property_names,
    item_error,
    parse_retry_after,
    property_error_sentences,
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


def invalid_values_body(results):
    """Return HubSpot's 400 body for invalid property values."""
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid: " + json.dumps(results),
    }


MISSING_KEY = {
    "isValid": False,
    "message": 'Property "odoo_sync_key" does not exist',
    "error": "PROPERTY_DOESNT_EXIST",
    "name": "odoo_sync_key",
}
BAD_EMAIL = {
    "isValid": False,
    "message": "Email address x@@y is invalid",
    "error": "INVALID_EMAIL",
    "name": "email",
}


def test_sentences_from_validation_results():
    body = invalid_values_body([MISSING_KEY, BAD_EMAIL, MISSING_KEY])

    assert property_error_sentences(body) == [
        'Property "odoo_sync_key" does not exist.',
        'Property "email" is not valid: Email address x@@y is invalid.',
    ]


def test_sentences_from_error_details():
    body = {
        "message": "Something went wrong",
        "errors": [
            {
                "message": '"hs_object_id" is a read only property',
                "code": "READ_ONLY_VALUE",
                "context": {"propertyName": ["hs_object_id"]},
            },
            {
                "message": 'Property "vat_number" value is too long.',
                "code": "TOO_LONG",
                "context": {"propertyName": ["vat_number"]},
            },
            {
                "message": "",
                "code": "INVALID_DOUBLE",
                "context": {"propertyName": ["n"]},
            },
            {"message": "no property named here"},
        ],
    }

    assert property_error_sentences(body) == [
        'Property "hs_object_id" is read-only, so its value cannot be set.',
        'Property "vat_number" value is too long.',
        'Property "n" is not valid (INVALID_DOUBLE).',
    ]


def test_sentences_tolerate_odd_bodies():
    assert property_error_sentences({}) == []
    assert (
        property_error_sentences({"message": "Property values were not valid: ["}) == []
    )
    assert property_error_sentences(invalid_values_body({"name": "x"})) == []
    assert (
        property_error_sentences(invalid_values_body(["text", {"isValid": False}]))
        == []
    )


def test_item_error_message_is_plain_words():
    entry = {
        **invalid_values_body([MISSING_KEY]),
        "context": {"objectWriteTraceId": ["0"]},
    }

    error = item_error(0, entry)

    assert error.message == 'Property "odoo_sync_key" does not exist.'
    assert error.property_names == ("odoo_sync_key",)
    assert error.category == errors.VALIDATION


def hubspot_response(status, body):
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    return response


def test_400_plain_message_and_log():
    response = hubspot_response(400, invalid_values_body([MISSING_KEY, BAD_EMAIL]))

    error = error_from_response(response, "POST /crm/v3/objects/contacts")

    assert isinstance(error, CrmValidationError)
    assert str(error) == (
        "The CRM rejected the data of POST /crm/v3/objects/contacts (HTTP 400): "
        'Property "odoo_sync_key" does not exist. Property "email" is not valid: '
        "Email address x@@y is invalid."
    )
    assert error.log_message == (
        "The CRM rejected the data of POST /crm/v3/objects/contacts (HTTP 400), "
        "invalid properties: odoo_sync_key, email."
    )
    assert error.property_names == ("odoo_sync_key", "email")


def test_400_without_property_keeps_crm_text():
    response = hubspot_response(
        400, {"category": "VALIDATION_ERROR", "message": "Invalid input JSON."}
    )

    error = error_from_response(response, "POST /crm/v3/objects/contacts")

    assert str(error) == (
        "The CRM rejected the data of POST /crm/v3/objects/contacts (HTTP 400): "
        "Invalid input JSON."
    )
    assert error.log_message == (
        "The CRM rejected the data of POST /crm/v3/objects/contacts (HTTP 400)."
    )
