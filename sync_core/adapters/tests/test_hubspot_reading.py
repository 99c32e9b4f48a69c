from datetime import UTC, datetime, timedelta

import pytest

from sync_core import errors
from sync_core.adapters import CrmNotFoundError, CrmRecord

MOMENT = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)


def create_companies(sandbox, count, prefix="Company"):
    """Create companies directly in the sandbox store and return their ids."""
    return [
        sandbox.store.create("companies", {"name": f"{prefix} {number}"})["id"]
        for number in range(count)
    ]


def create_at(sandbox, moment, object_type, properties):
    """Create one record whose timestamps are ``moment`` and return its id."""
    previous_clock = sandbox.store.clock
    sandbox.store.clock = lambda: moment
    try:
        return sandbox.store.create(object_type, properties)["id"]
    finally:
        sandbox.store.clock = previous_clock


def test_get_returns_record(sandbox, adapter):
    crm_id = sandbox.store.create("companies", {"name": "Acme Ltd", "city": "Leeds"})[
        "id"
    ]

    record = adapter.get("company", crm_id, ["name", "city"])

    assert isinstance(record, CrmRecord)
    assert record.id == crm_id
    assert record.properties["name"] == "Acme Ltd"
    assert record.properties["city"] == "Leeds"
    assert record.archived is False
    assert record.created_at.tzinfo is not None
    assert record.updated_at.utcoffset() == timedelta(0)


def test_get_missing_raises_not_found(adapter):
    with pytest.raises(CrmNotFoundError) as caught:
        adapter.get("company", "20999999999", ["name"])

    assert caught.value.status == 404
    assert caught.value.category == errors.NOT_FOUND
    assert caught.value.retryable is False


def test_iter_all_pages_past_one_hundred(sandbox, adapter):
    created = create_companies(sandbox, 250)

    records = list(adapter.iter_all("company", ["name"]))

    assert [record.id for record in records] == created
    assert records[249].properties["name"] == "Company 249"
    # Three pages of at most 100, each with a paging cursor to the next.
    assert sandbox.request_counts[200] == 3


def test_iter_all_small_pages(sandbox, adapter):
    created = create_companies(sandbox, 7)

    records = list(adapter.iter_all("company", ["name"], page_size=3))

    assert [record.id for record in records] == created
    assert sandbox.request_counts[200] == 3


def test_iter_all_skips_archived(sandbox, adapter):
    created = create_companies(sandbox, 3)
    sandbox.store.archive("companies", created[1])

    ids = [record.id for record in adapter.iter_all("company", ["name"])]

    assert ids == [created[0], created[2]]


@pytest.mark.parametrize("page_size", [0, 101])
def test_iter_all_rejects_page_size(adapter, page_size):
    with pytest.raises(ValueError, match="page_size"):
        list(adapter.iter_all("company", ["name"], page_size=page_size))


def test_search_window_with_ties(sandbox, adapter):
    before = create_at(
        sandbox, MOMENT - timedelta(milliseconds=1), "companies", {"name": "Before"}
    )
    tied = [
        create_at(sandbox, MOMENT, "companies", {"name": f"Tied {number}"})
        for number in range(150)
    ]
    after = create_at(
        sandbox, MOMENT + timedelta(milliseconds=1), "companies", {"name": "After"}
    )

    first = adapter.search_modified("company", MOMENT, MOMENT, ["name"])
    second = adapter.search_modified(
        "company", MOMENT, MOMENT, ["name"], after=first.next_after
    )

    assert first.total == 150
    assert len(first.records) == 100
    assert first.next_after is not None
    assert second.next_after is None
    ids = [record.id for record in first.records + second.records]
    assert ids == tied
    assert before not in ids
    assert after not in ids


def test_search_window_sorted_by_modification(sandbox, adapter):
    later = create_at(
        sandbox, MOMENT + timedelta(seconds=5), "companies", {"name": "Later"}
    )
    earlier = create_at(sandbox, MOMENT, "companies", {"name": "Earlier"})
    middle = create_at(
        sandbox, MOMENT + timedelta(seconds=2), "companies", {"name": "Middle"}
    )

    page = adapter.search_modified(
        "company", MOMENT, MOMENT + timedelta(seconds=10), ["name"]
    )

    assert [record.id for record in page.records] == [earlier, middle, later]
    assert [record.updated_at for record in page.records] == [
        MOMENT,
        MOMENT + timedelta(seconds=2),
        MOMENT + timedelta(seconds=5),
    ]
    assert (
        page.records[0].properties["hs_lastmodifieddate"] == "2026-03-02T09:30:00.000Z"
    )


def test_search_window_bounds_inclusive(sandbox, adapter):
    start = create_at(sandbox, MOMENT, "companies", {"name": "Start"})
    end = create_at(
        sandbox, MOMENT + timedelta(seconds=1), "companies", {"name": "End"}
    )

    page = adapter.search_modified(
        "company", MOMENT, MOMENT + timedelta(seconds=1), ["name"]
    )

    assert [record.id for record in page.records] == [start, end]


def test_search_window_reads_naive_as_utc(sandbox, adapter):
    crm_id = create_at(sandbox, MOMENT, "companies", {"name": "Naive"})
    naive = MOMENT.replace(tzinfo=None)

    page = adapter.search_modified("company", naive, naive, ["name"])

    assert [record.id for record in page.records] == [crm_id]


def test_search_contacts_uses_lastmodifieddate(sandbox, adapter):
    crm_id = create_at(sandbox, MOMENT, "contacts", {"email": "ann@example.co.uk"})

    page = adapter.search_modified("contact", MOMENT, MOMENT, ["email"])

    assert [record.id for record in page.records] == [crm_id]
    assert page.records[0].properties["lastmodifieddate"] == "2026-03-02T09:30:00.000Z"


@pytest.mark.parametrize("limit", [0, 201])
def test_search_rejects_limit(adapter, limit):
    with pytest.raises(ValueError, match="limit"):
        adapter.search_modified("company", MOMENT, MOMENT, ["name"], limit=limit)


def test_search_equals_finds_idempotency_key(sandbox, adapter):
    sandbox.store.define_property("companies", "odoo_sync_key")
    expected_id = sandbox.store.create(
        "companies", {"name": "A", "odoo_sync_key": "1:company:7"}
    )["id"]
    sandbox.store.create("companies", {"name": "B", "odoo_sync_key": "1:company:8"})

    records = adapter.search_equals("company", "odoo_sync_key", "1:company:7", ["name"])

    assert [record.id for record in records] == [expected_id]
    assert records[0].properties["name"] == "A"


def test_search_equals_without_match_is_empty(sandbox, adapter):
    sandbox.store.define_property("companies", "odoo_sync_key")

    assert adapter.search_equals("company", "odoo_sync_key", "none", ["name"]) == []


def test_batch_read_reports_missing_id(sandbox, adapter):
    created = create_companies(sandbox, 2)

    result = adapter.batch_read(
        "company", [created[0], "20999999999", created[1]], ["name"]
    )

    assert set(result.results) == set(created)
    assert result.results[created[1]].properties["name"] == "Company 1"
    assert len(result.errors) == 1
    error = result.error_for("20999999999")
    assert error.category == errors.NOT_FOUND
    assert error.retryable is False
    assert result.ok is False


def test_batch_read_chunks_past_one_hundred(sandbox, adapter):
    created = create_companies(sandbox, 230)

    result = adapter.batch_read("company", created, ["name"])

    assert result.ok
    assert set(result.results) == set(created)
    assert sandbox.request_counts[200] == 3


def test_batch_read_merged_id_reported(sandbox, adapter):
    primary, merged = create_companies(sandbox, 2)
    sandbox.store.merge("companies", primary, merged)

    result = adapter.batch_read("company", [merged], ["name"])

    # HubSpot returns the surviving record under its own id.
    assert result.results == {}
    error = result.error_for(merged)
    assert error.category == errors.NOT_FOUND
    assert "merged" in error.message
