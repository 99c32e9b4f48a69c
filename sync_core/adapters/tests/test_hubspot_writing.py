import pytest

from sync_core import errors
from sync_core.adapters import CrmRateLimitError, ItemError, hubspot


def contact_inputs(count):
    return [
        {"email": f"person{number}@example.co.uk", "firstname": f"Person {number}"}
        for number in range(count)
    ]


def test_batch_create_maps_results_to_inputs(sandbox, adapter):
    inputs = contact_inputs(3)

    result = adapter.batch_create("contact", inputs)

    assert result.ok
    assert sorted(result.results) == [0, 1, 2]
    for index, record in result.results.items():
        assert record.properties["email"] == inputs[index]["email"]
        assert sandbox.store.get("contacts", record.id)["properties"]["firstname"] == (
            f"Person {index}"
        )


def test_batch_create_maps_partial_failure(sandbox, adapter):
    inputs = contact_inputs(150)
    inputs[30]["email"] = inputs[10]["email"]
    inputs[120]["email"] = "person120@@example.co.uk"

    result = adapter.batch_create("contact", inputs)

    assert len(result.results) == 148
    assert sorted(error.index_or_id for error in result.errors) == [30, 120]
    for index, record in result.results.items():
        assert record.properties["email"] == inputs[index]["email"]

    duplicate = result.error_for(30)
    assert duplicate.category == errors.DUPLICATE
    assert duplicate.existing_id == result.results[10].id
    assert duplicate.retryable is False

    invalid = result.error_for(120)
    assert invalid.category == errors.VALIDATION
    assert invalid.property_names == ("email",)
    assert "person120@@example.co.uk" in invalid.message
    assert invalid.message.startswith('Property "email" is not valid: ')
    assert "isValid" not in invalid.message
    assert sandbox.store.stats()["contacts"]["total"] == 148


def test_batch_create_sends_chunks_of_one_hundred(sandbox, adapter):
    result = adapter.batch_create("company", [{"name": f"Co {n}"} for n in range(201)])

    assert len(result.results) == 201
    assert sandbox.request_counts[201] == 3


def test_batch_create_empty_sends_nothing(sandbox, adapter):
    result = adapter.batch_create("company", [])

    assert result.ok
    assert result.results == {}
    assert sum(sandbox.request_counts.values()) == 0


def test_rate_limit_keeps_partial_batch(make_adapter, sandbox):
    # One call per minute: the second chunk hits the sandbox's limit.
    sandbox.rate_limiter.configure(1, 60.0)
    adapter = make_adapter()

    with pytest.raises(CrmRateLimitError) as caught:
        adapter.batch_create("company", [{"name": f"Co {n}"} for n in range(150)])

    partial = caught.value.partial_result
    assert sorted(partial.results) == list(range(100))
    assert partial.errors == []
    assert caught.value.retry_after == pytest.approx(60.0, abs=1.0)
    assert sandbox.store.stats()["companies"]["total"] == 100


def test_batch_update_maps_partial_failure(sandbox, adapter):
    ids = [
        sandbox.store.create("companies", {"name": f"Co {n}"})["id"] for n in range(3)
    ]

    result = adapter.batch_update(
        "company",
        [
            (ids[0], {"name": "Renamed"}),
            ("20999999999", {"name": "Ghost"}),
            (ids[1], {"numberofemployees": "many"}),
            (ids[2], {"city": "York"}),
        ],
    )

    assert sorted(result.results) == sorted([ids[0], ids[2]])
    assert result.results[ids[0]].properties["name"] == "Renamed"
    assert result.results[ids[2]].properties["city"] == "York"
    assert result.error_for("20999999999").category == errors.NOT_FOUND
    invalid = result.error_for(ids[1])
    assert invalid.category == errors.VALIDATION
    assert invalid.property_names == ("numberofemployees",)
    assert (
        sandbox.store.get("companies", ids[1])["properties"].get("numberofemployees")
        is None
    )


def test_batch_update_rejects_repeated_id(adapter):
    with pytest.raises(ValueError, match="appears twice"):
        adapter.batch_update("company", [("1", {"name": "A"}), ("1", {"city": "B"})])


def test_batch_archive_archives_records(sandbox, adapter):
    ids = [
        sandbox.store.create("companies", {"name": f"Co {n}"})["id"] for n in range(2)
    ]

    result = adapter.batch_archive("company", ids)

    assert result.ok
    assert set(result.results) == set(ids)
    assert all(record.archived for record in result.results.values())
    assert sandbox.store.stats()["companies"] == {"total": 0, "archived": 2}


def test_associate_and_list(sandbox, adapter):
    company = sandbox.store.create("companies", {"name": "Acme Ltd"})["id"]
    contacts = [
        sandbox.store.create("contacts", {"email": f"c{n}@example.co.uk"})["id"]
        for n in range(2)
    ]

    for contact in contacts:
        adapter.associate("contact", contact, "company", company)
    adapter.associate("contact", contacts[0], "company", company)

    assert sorted(adapter.list_associations("company", company, "contact")) == sorted(
        contacts
    )
    assert adapter.list_associations("contact", contacts[1], "company") == [company]


def test_list_associations_empty(sandbox, adapter):
    deal = sandbox.store.create("deals", {"dealname": "Boilers"})["id"]

    assert adapter.list_associations("deal", deal, "line_item") == []


def test_rejected_chunk_fails_each_input():
    # The sandbox reports per-input errors with 207, so a whole chunk rejected
    # with 400 is built here the way _batch_call builds it.
    rejection = ItemError(None, errors.VALIDATION, "Invalid input JSON.", status=400)
    chunk = hubspot._ChunkResponse(whole_chunk_error=rejection)

    result = hubspot._match_by_trace_id(chunk, [100, 101])

    assert result.results == {}
    assert [error.index_or_id for error in result.errors] == [100, 101]
    assert all(error.status == 400 for error in result.errors)
    assert all(error.message == "Invalid input JSON." for error in result.errors)


def test_unknown_property_error_is_plain_words(sandbox, adapter):
    result = adapter.batch_create(
        "company", [{"name": "Acme Ltd", "odoo_sync_key": "odoo:abc:res.partner:1"}]
    )

    error = result.error_for(0)
    assert error.category == errors.VALIDATION
    assert error.message == 'Property "odoo_sync_key" does not exist.'
    assert error.property_names == ("odoo_sync_key",)
    assert sandbox.store.stats()["companies"]["total"] == 0
