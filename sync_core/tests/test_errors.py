import pytest

from sync_core import errors
from sync_core.errors import CrmApiError, InvalidValueError, SyncError


def test_categories_selection_lists_every_constant():
    codes = [code for code, _label in errors.ERROR_CATEGORIES]
    expected = [
        "validation", "duplicate", "conflict", "auth", "permission", "rate_limit",
        "server", "timeout", "network", "not_found", "malformed", "concurrency",
        "internal",
    ]
    assert codes == expected
    assert all(label for _code, label in errors.ERROR_CATEGORIES)


def test_sync_error_retryable_follows_category():
    assert SyncError("x", category=errors.TIMEOUT).retryable is True
    assert SyncError("x", category=errors.CONCURRENCY).retryable is True
    assert SyncError("x", category=errors.VALIDATION).retryable is False
    assert SyncError("x").category == errors.INTERNAL
    assert SyncError("x").retryable is False


def test_sync_error_explicit_retryable_wins():
    assert SyncError("x", category=errors.SERVER, retryable=False).retryable is False


def test_invalid_value_message_names_record_field_value():
    error = InvalidValueError("is not a valid email address", value="bob@@x")
    error = error.with_context(
        field="email", record_ref="crm:123", record_type="Contact"
    )
    assert str(error) == (
        "Contact 'crm:123' field 'email': 'bob@@x' is not a valid email address."
    )
    assert error.category == errors.VALIDATION
    assert error.retryable is False


def test_invalid_value_message_without_context():
    error = InvalidValueError("is not a valid email address", value="bob@@x")
    assert str(error) == "'bob@@x' is not a valid email address."
    only_field = error.with_context(field="email")
    assert str(only_field) == "Field 'email': 'bob@@x' is not a valid email address."


def test_invalid_value_log_message_hides_value():
    error = InvalidValueError("is not a valid email address", value="bob@@x")
    error = error.with_context(
        field="email", record_ref="crm:123", record_type="Contact"
    )
    assert "bob" not in error.log_message
    assert error.log_message == (
        "Contact 'crm:123' field 'email': the value is not a valid email address."
    )


def test_invalid_value_with_context_keeps_known_parts():
    error = InvalidValueError("is bad", value="x", field="phone")
    error = error.with_context(record_ref="odoo:7")
    assert error.field == "phone"
    assert error.record_ref == "odoo:7"
    assert str(error) == "Record 'odoo:7' field 'phone': 'x' is bad."


def test_invalid_value_long_value_is_cut():
    error = InvalidValueError("is bad", value="x" * 500)
    assert len(str(error)) < 100
    assert "…" in str(error)


@pytest.mark.parametrize(
    ("status", "category", "retryable"),
    [
        (None, errors.NETWORK, True),
        (400, errors.VALIDATION, False),
        (401, errors.AUTH, False),
        (403, errors.PERMISSION, False),
        (404, errors.NOT_FOUND, False),
        (409, errors.CONFLICT, False),
        (429, errors.RATE_LIMIT, True),
        (500, errors.SERVER, True),
        (502, errors.SERVER, True),
        (504, errors.TIMEOUT, True),
    ],
)
def test_crm_api_error_category_from_status(status, category, retryable):
    error = CrmApiError("failed", status=status)
    assert error.category == category
    assert error.retryable is retryable


def test_crm_api_error_retry_after_is_float():
    error = CrmApiError("slow down", status=429, retry_after="7")
    assert error.retry_after == 7.0
    assert CrmApiError("x", status=500).retry_after is None


def test_crm_api_error_is_subclassable():
    class HubSpotRateLimit(CrmApiError):
        pass

    error = HubSpotRateLimit("slow down", status=429, retry_after=2)
    assert isinstance(error, SyncError)
    assert error.category == errors.RATE_LIMIT
