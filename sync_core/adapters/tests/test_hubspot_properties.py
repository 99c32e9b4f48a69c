import threading

import pytest

from sync_core import errors
from sync_core.adapters import (
    CrmPermissionError,
    CrmValidationError,
    hubspot_properties,
)

SYNC_KEY = "odoo_sync_key"
CANNOT_CREATE = (
    "Property odoo_sync_key is missing on companies and the token may not create "
    "it: add scope crm.schemas.companies.write or create a single-line text "
    "property named odoo_sync_key."
)


def definition(sandbox, object_type, name):
    return sandbox.store.object_type(object_type).properties.get(name)


def test_ensure_creates_missing_text_property(sandbox, adapter):
    created = adapter.ensure_property("company", SYNC_KEY, "Odoo sync key", unique=True)

    assert created is True
    stored = definition(sandbox, "companies", SYNC_KEY)
    assert stored.type == "string"
    assert stored.field_type == "text"
    assert stored.unique is True
    assert stored.label == "Odoo sync key"
    assert stored.group_name == "companyinformation"
    assert stored.hubspot_defined is False


def test_ensure_without_unique(sandbox, adapter):
    adapter.ensure_property("contact", SYNC_KEY, "Odoo sync key")

    stored = definition(sandbox, "contacts", SYNC_KEY)
    assert stored.unique is False
    assert stored.group_name == "contactinformation"


def test_ensure_existing_property_only_reads(sandbox, adapter):
    adapter.ensure_property("company", SYNC_KEY, "Odoo sync key", unique=True)
    sandbox.request_counts.clear()

    created = adapter.ensure_property("company", SYNC_KEY, "Other label")

    assert created is False
    assert dict(sandbox.request_counts) == {200: 1}
    assert definition(sandbox, "companies", SYNC_KEY).label == "Odoo sync key"


def test_ensured_property_takes_values(sandbox, adapter):
    adapter.ensure_property("company", SYNC_KEY, "Odoo sync key", unique=True)

    result = adapter.batch_create(
        "company", [{"name": "Acme Ltd", SYNC_KEY: "odoo:abc:res.partner:7"}]
    )
    found = adapter.search_equals(
        "company", SYNC_KEY, "odoo:abc:res.partner:7", ["name"]
    )

    assert result.ok
    assert [record.id for record in found] == [result.results[0].id]


def test_create_after_another_client_is_not_an_error(sandbox, adapter):
    sandbox.store.define_property("companies", SYNC_KEY)

    created = hubspot_properties.create_text_property(
        adapter.transport.request, "company", "companies", SYNC_KEY, "Key", True
    )

    assert created is False
    assert sandbox.request_counts[409] == 1


def test_concurrent_ensures_create_once(sandbox, make_adapter):
    # Each request waits 0.2 s in the sandbox, so every read runs before any
    # create and all but one create get a 409.
    sandbox.faults.set_latency(0.2)
    workers = 5
    adapters = [make_adapter() for _ in range(workers)]
    barrier = threading.Barrier(workers)
    outcomes = []

    def ensure(adapter):
        barrier.wait()
        try:
            outcomes.append(adapter.ensure_property("company", SYNC_KEY, "Key"))
        except Exception as error:
            # Kept as an outcome, so that the assert below shows it.
            outcomes.append(error)

    threads = [threading.Thread(target=ensure, args=(a,)) for a in adapters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes, key=str) == [False] * (workers - 1) + [True]
    assert sandbox.request_counts[409] == workers - 1
    assert definition(sandbox, "companies", SYNC_KEY) is not None


def test_ensure_without_schema_write_scope(sandbox, adapter):
    sandbox.set_scopes(["crm.objects.companies.read", "crm.objects.companies.write"])

    with pytest.raises(CrmPermissionError) as caught:
        adapter.ensure_property("company", SYNC_KEY, "Odoo sync key")

    assert str(caught.value) == CANNOT_CREATE
    assert caught.value.missing_scopes == ("crm.schemas.companies.write",)
    assert caught.value.category == errors.PERMISSION
    assert caught.value.retryable is False
    assert definition(sandbox, "companies", SYNC_KEY) is None


def test_ensure_existing_needs_no_write_scope(sandbox, adapter):
    sandbox.store.define_property("companies", SYNC_KEY, unique=True)
    sandbox.set_scopes(["crm.objects.companies.read"])

    assert adapter.ensure_property("company", SYNC_KEY, "Odoo sync key") is False


def test_ensure_without_read_scope(sandbox, adapter):
    sandbox.set_scopes(["crm.objects.contacts.read"])

    with pytest.raises(CrmPermissionError) as caught:
        adapter.ensure_property("company", SYNC_KEY, "Odoo sync key")

    assert str(caught.value) == (
        "The token may not read the property definitions of companies: add scope "
        "crm.schemas.companies.read or crm.objects.companies.read to the private app."
    )


def test_ensure_rejects_property_of_other_type(sandbox, adapter):
    sandbox.store.define_property("companies", SYNC_KEY, value_type="number")

    with pytest.raises(CrmValidationError) as caught:
        adapter.ensure_property("company", SYNC_KEY, "Odoo sync key")

    assert str(caught.value) == (
        "Property odoo_sync_key on companies has type number, but the sync writes "
        "text to it: replace it with a single-line text property named "
        "odoo_sync_key."
    )
    assert caught.value.property_names == (SYNC_KEY,)


def test_ensure_unknown_object_type(adapter):
    with pytest.raises(ValueError, match="Unknown object type 'ticket'"):
        adapter.ensure_property("ticket", SYNC_KEY, "Odoo sync key")


def property_checks(results):
    return {
        result.name: (result.ok, result.detail)
        for result in results
        if result.name.startswith("property:")
    }


def test_check_reports_existing_property(sandbox, adapter):
    sandbox.store.define_property("companies", SYNC_KEY, unique=True)

    results = adapter.check_connection(
        [("company", True)], properties=[("company", SYNC_KEY)]
    )

    assert property_checks(results) == {
        "property:companies.odoo_sync_key": (
            True,
            "Property odoo_sync_key exists on companies.",
        )
    }


def test_check_missing_property_creates_nothing(sandbox, adapter):
    results = adapter.check_connection(
        [("company", True), ("contact", True)],
        properties=[("company", SYNC_KEY), ("contact", SYNC_KEY)],
    )

    assert all(result.ok for result in results)
    assert property_checks(results)["property:contacts.odoo_sync_key"] == (
        True,
        "Property odoo_sync_key is missing on contacts, and the first export "
        "creates it.",
    )
    assert definition(sandbox, "companies", SYNC_KEY) is None
    assert definition(sandbox, "contacts", SYNC_KEY) is None


def test_check_missing_property_without_scope(sandbox, adapter):
    sandbox.set_scopes(["crm.objects.companies.read", "crm.objects.companies.write"])

    results = adapter.check_connection(
        [("company", True)], properties=[("company", SYNC_KEY)]
    )

    assert [result.name for result in results if not result.ok] == [
        "property:companies.odoo_sync_key"
    ]
    assert property_checks(results)["property:companies.odoo_sync_key"] == (
        False,
        CANNOT_CREATE,
    )


def test_check_property_of_other_type(sandbox, adapter):
    sandbox.store.define_property("companies", SYNC_KEY, value_type="datetime")

    results = adapter.check_connection(
        [("company", False)], properties=[("company", SYNC_KEY)]
    )

    ok, detail = property_checks(results)["property:companies.odoo_sync_key"]
    assert ok is False
    assert "has type datetime" in detail


def test_check_skips_properties_after_token_failure(make_adapter):
    adapter = make_adapter(access_token="wrong-token")

    results = adapter.check_connection(
        [("company", True)], properties=[("company", SYNC_KEY)]
    )

    assert [result.name for result in results] == ["url", "token"]


def test_check_without_properties_is_unchanged(sandbox, adapter):
    results = adapter.check_connection([("company", False)])

    assert property_checks(results) == {}
