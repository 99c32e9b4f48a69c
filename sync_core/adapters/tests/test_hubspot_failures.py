import logging
import socket
import time
from datetime import UTC, datetime

import pytest

from sync_core import errors
from sync_core.adapters import (
    CrmAuthError,
    CrmMalformedResponseError,
    CrmNetworkError,
    CrmPermissionError,
    CrmRateLimitError,
    CrmServerError,
    CrmTimeoutError,
    CrmValidationError,
    get_adapter,
)
from sync_core.adapters.hubspot_http import INLINE_RETRY_MAX_WAIT

MOMENT = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)


def closed_port():
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_wrong_token_raises_auth_error(make_adapter):
    adapter = make_adapter(access_token="wrong-token")

    with pytest.raises(CrmAuthError) as caught:
        adapter.get("company", "1", ["name"])

    assert caught.value.status == 401
    assert caught.value.category == errors.AUTH
    assert caught.value.retryable is False
    assert "wrong-token" not in str(caught.value)


def test_missing_scope_raises_permission_error(sandbox, adapter):
    sandbox.set_scopes(["crm.objects.companies.read"])

    with pytest.raises(CrmPermissionError) as caught:
        adapter.batch_create("company", [{"name": "Acme Ltd"}])

    assert caught.value.status == 403
    assert caught.value.missing_scopes == ("crm.objects.companies.write",)
    assert str(caught.value) == (
        "Missing scope crm.objects.companies.write: add it to the private app."
    )
    assert caught.value.partial_result.results == {}


def test_rate_limit_maps_retry_after(sandbox, adapter):
    sandbox.faults.fail_next(count=2, status=429)

    with pytest.raises(CrmRateLimitError) as caught:
        adapter.get("company", "1", ["name"])

    assert caught.value.status == 429
    assert caught.value.retry_after == 1.0
    assert caught.value.retryable is True
    assert caught.value.category == errors.RATE_LIMIT
    assert caught.value.policy == "TEN_SECONDLY_ROLLING"


def test_rate_limit_retried_once_inline(sandbox, adapter):
    crm_id = sandbox.store.create("companies", {"name": "Acme Ltd"})["id"]
    sandbox.faults.fail_next(count=1, status=429)

    record = adapter.get("company", crm_id, ["name"])

    assert record.properties["name"] == "Acme Ltd"
    assert sandbox.request_counts[429] == 1
    assert sandbox.request_counts[200] == 1


def test_long_retry_after_not_waited(make_adapter, sandbox):
    sandbox.rate_limiter.configure(1, 30.0)
    adapter = make_adapter()
    list(adapter.iter_all("company", ["name"]))
    started = time.monotonic()

    with pytest.raises(CrmRateLimitError) as caught:
        list(adapter.iter_all("company", ["name"]))

    assert caught.value.retry_after > INLINE_RETRY_MAX_WAIT
    assert sandbox.request_counts[429] == 1
    # The adapter gave up at once instead of sleeping through the window.
    assert time.monotonic() - started < INLINE_RETRY_MAX_WAIT


def test_throttle_avoids_rate_limit(make_adapter, sandbox):
    sandbox.rate_limiter.configure(5, 1.0)
    adapter = make_adapter(rate_limit=5, rate_window=1.0)
    crm_id = sandbox.store.create("companies", {"name": "Acme Ltd"})["id"]

    for _ in range(12):
        adapter.get("company", crm_id, ["name"])

    assert sandbox.request_counts[429] == 0
    assert sandbox.request_counts[200] == 12


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_is_retryable(sandbox, adapter, status):
    sandbox.faults.fail_next(count=1, status=status)

    with pytest.raises(CrmServerError) as caught:
        adapter.get("company", "1", ["name"])

    assert caught.value.status == status
    assert caught.value.category == errors.SERVER
    assert caught.value.retryable is True


def test_gateway_timeout_is_timeout(sandbox, adapter):
    sandbox.faults.fail_next(count=1, status=504)

    with pytest.raises(CrmServerError) as caught:
        adapter.get("company", "1", ["name"])

    assert caught.value.category == errors.TIMEOUT
    assert caught.value.retryable is True


def test_timeout_raises_timeout_error(make_adapter, sandbox):
    adapter = make_adapter(timeout=0.5)
    sandbox.faults.timeout_next(count=1, seconds=2.0, apply_request=True)

    with pytest.raises(CrmTimeoutError) as caught:
        adapter.batch_create("company", [{"name": "Slow Ltd"}])

    assert caught.value.category == errors.TIMEOUT
    assert caught.value.retryable is True
    assert caught.value.status is None
    assert "0.5 s" in str(caught.value)


def test_timed_out_create_found_by_key(make_adapter, sandbox):
    sandbox.store.define_property("companies", "odoo_sync_key")
    adapter = make_adapter(timeout=0.5)
    sandbox.faults.timeout_next(count=1, seconds=2.0, apply_request=True)

    with pytest.raises(CrmTimeoutError):
        adapter.batch_create("company", [{"name": "Slow Ltd", "odoo_sync_key": "k-1"}])
    found = adapter.search_equals("company", "odoo_sync_key", "k-1", ["name"])

    assert [record.properties["name"] for record in found] == ["Slow Ltd"]


@pytest.mark.parametrize("kind", ["truncated", "non_json", "incomplete"])
def test_malformed_body_is_retryable(sandbox, adapter, kind):
    sandbox.faults.malformed_next(count=1, kind=kind)

    with pytest.raises(CrmMalformedResponseError) as caught:
        adapter.iter_all("company", ["name"]).__next__()

    assert caught.value.category == errors.MALFORMED
    assert caught.value.retryable is True


def test_unreachable_url_is_network_error():
    adapter = get_adapter("hubspot", f"http://127.0.0.1:{closed_port()}", "token")

    with pytest.raises(CrmNetworkError) as caught:
        adapter.get("company", "1", ["name"])

    assert caught.value.category == errors.NETWORK
    assert caught.value.retryable is True
    assert "127.0.0.1" in str(caught.value)


def test_search_past_limit_is_validation_error(adapter):
    # HubSpot serves no page past the 10,000th result of a query.
    with pytest.raises(CrmValidationError) as caught:
        adapter.search_modified("company", MOMENT, MOMENT, ["name"], after="10000")

    assert caught.value.status == 400
    assert caught.value.category == errors.VALIDATION
    assert caught.value.retryable is False
    assert "10000" in str(caught.value)
    assert "POST /crm/v3/objects/companies/search" in caught.value.log_message


def test_logs_hide_token_and_values(caplog, sandbox, adapter):
    caplog.set_level(logging.DEBUG, logger="sync_core")
    sandbox.faults.fail_next(count=1, status=429)

    adapter.batch_create(
        "contact",
        [{"email": "secret.person@example.co.uk"}, {"email": "x@@y"}],
    )
    adapter.search_equals("contact", "email", "secret.person@example.co.uk", ["email"])

    output = "\n".join(record.getMessage() for record in caplog.records)
    assert "HubSpot batch create of contacts: 1 created, 1 failed" in output
    assert "retrying once" in output
    assert sandbox.access_token not in output
    assert "secret.person" not in output
    assert "x@@y" not in output
