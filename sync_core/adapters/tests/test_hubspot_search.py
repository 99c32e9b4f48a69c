"""search_in, search_modified_at and disassociate against the CRM sandbox."""

import json
from datetime import UTC, datetime, timedelta

from sync_core.adapters.hubspot import IN_FILTER_MAX_VALUES, SEARCH_MAX_BODY_CHARS

MOMENT = datetime(2026, 3, 2, 9, 30, 0, 123000, tzinfo=UTC)


def create_at(sandbox, moment, object_type, properties):
    """Create one record whose timestamps are ``moment`` and return its id."""
    previous_clock = sandbox.store.clock
    sandbox.store.clock = lambda: moment
    try:
        return sandbox.store.create(object_type, properties, emit_events=False)["id"]
    finally:
        sandbox.store.clock = previous_clock


def record_search_bodies(adapter, monkeypatch):
    """Return the list to which every search body the adapter sends is appended."""
    bodies = []
    send_search = adapter._search

    def recording_search(name, body):
        bodies.append(json.loads(json.dumps(body)))
        return send_search(name, body)

    monkeypatch.setattr(adapter, "_search", recording_search)
    return bodies


def test_search_in_matches_any_value_ignoring_case(sandbox, adapter):
    acme = sandbox.store.create("companies", {"name": "Acme", "city": "Leeds"})["id"]
    york = sandbox.store.create("companies", {"name": "Ouse", "city": "york"})["id"]
    sandbox.store.create("companies", {"name": "Tees", "city": "Hull"})

    records = adapter.search_in("company", "city", ["LEEDS", "York", "Bath"], ["name"])

    assert sorted(record.id for record in records) == sorted([acme, york])
    assert {record.properties["name"] for record in records} == {"Acme", "Ouse"}


def test_search_in_empty_values_sends_nothing(adapter, monkeypatch):
    bodies = record_search_bodies(adapter, monkeypatch)

    assert adapter.search_in("company", "city", [], ["name"]) == []
    assert bodies == []


def test_search_in_chunks_values(sandbox, adapter, monkeypatch):
    ids = [
        sandbox.store.create("contacts", {"email": f"p{n}@example.co.uk"})["id"]
        for n in range(250)
    ]
    bodies = record_search_bodies(adapter, monkeypatch)
    emails = [f"P{n}@example.co.uk" for n in range(250)]

    records = adapter.search_in("contact", "email", emails, ["email"])

    assert sorted(record.id for record in records) == sorted(ids)
    sent = [body["filterGroups"][0]["filters"][0]["values"] for body in bodies]
    assert all(len(values) <= IN_FILTER_MAX_VALUES for values in sent)
    assert sorted(value for values in sent for value in values) == sorted(
        email.lower() for email in emails
    )
    assert all(len(json.dumps(body)) <= SEARCH_MAX_BODY_CHARS for body in bodies)


def test_search_in_keeps_long_values_under_body_limit(sandbox, adapter, monkeypatch):
    keys = [f"odoo-key-{n:04d}-" + "x" * 50 for n in range(120)]
    for key in keys[::10]:
        sandbox.store.create("companies", {"name": key[:14], "description": key})
    bodies = record_search_bodies(adapter, monkeypatch)

    records = adapter.search_in("company", "description", keys, ["description"])

    assert sorted(record.properties["description"] for record in records) == sorted(
        keys[::10]
    )
    assert len(bodies) > 2
    assert all(len(json.dumps(body)) <= SEARCH_MAX_BODY_CHARS for body in bodies)


def test_search_in_reads_every_page(sandbox, adapter, monkeypatch):
    for number in range(250):
        sandbox.store.create(
            "companies", {"name": f"Company {number}", "city": "Leeds"}
        )
    bodies = record_search_bodies(adapter, monkeypatch)

    records = adapter.search_in("company", "city", ["leeds"], ["name"])

    assert len({record.id for record in records}) == 250
    assert len(bodies) == 2
    assert bodies[1]["after"] == "200"


def test_search_modified_at_pages_by_id(sandbox, adapter):
    tied = [
        create_at(sandbox, MOMENT, "companies", {"name": f"Tied {n}"})
        for n in range(250)
    ]
    create_at(sandbox, MOMENT + timedelta(milliseconds=1), "companies", {"name": "L"})
    create_at(sandbox, MOMENT - timedelta(milliseconds=1), "companies", {"name": "E"})

    seen = []
    after_id = None
    while True:
        page = adapter.search_modified_at("company", MOMENT, after_id, ["name"], 100)
        if not page.records:
            break
        seen += [record.id for record in page.records]
        after_id = page.records[-1].id

    assert seen == sorted(tied, key=int)
    assert len(seen) == 250


def test_search_modified_at_returns_modified_property(sandbox, adapter):
    contact = create_at(sandbox, MOMENT, "contacts", {"email": "ann@example.co.uk"})

    page = adapter.search_modified_at("contact", MOMENT, None, ["email"])

    assert [record.id for record in page.records] == [contact]
    assert page.records[0].properties["lastmodifieddate"]
    assert page.records[0].updated_at == MOMENT


def test_search_modified_at_after_id(sandbox, adapter):
    ids = [
        create_at(sandbox, MOMENT, "companies", {"name": f"Tied {n}"}) for n in range(3)
    ]

    page = adapter.search_modified_at("company", MOMENT, ids[0], ["name"])

    assert [record.id for record in page.records] == ids[1:]


def test_disassociate_removes_association(sandbox, adapter):
    contact = sandbox.store.create("contacts", {"email": "ann@example.co.uk"})["id"]
    old, new = (
        sandbox.store.create("companies", {"name": name})["id"]
        for name in ("Old Ltd", "New Ltd")
    )
    adapter.associate("contact", contact, "company", old)
    adapter.associate("contact", contact, "company", new)

    adapter.disassociate("contact", contact, "company", old)

    assert adapter.list_associations("contact", contact, "company") == [new]
    assert adapter.list_associations("company", old, "contact") == []


def test_disassociate_missing_association_is_not_error(sandbox, adapter):
    contact = sandbox.store.create("contacts", {"email": "ann@example.co.uk"})["id"]
    company = sandbox.store.create("companies", {"name": "Acme Ltd"})["id"]

    adapter.disassociate("contact", contact, "company", company)

    assert adapter.list_associations("contact", contact, "company") == []
