"""Search (filters, sorts, ties, paging, the 10,000 cap) and batch endpoints."""

from datetime import UTC, datetime, timedelta

import pytest

SEARCH = "/crm/v3/objects/companies/search"
FROZEN = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def make_companies(sandbox, names, **properties):
    return [
        sandbox.store.create(
            "companies", {"name": name, **properties}, emit_events=False
        )["id"]
        for name in names
    ]


def search_ids(client, body, path=SEARCH):
    response = client.post(path, body)
    assert response.status_code == 200, response.text
    return [record["id"] for record in response.json()["results"]]


def one_filter(name, operator, **values):
    return {
        "filterGroups": [
            {"filters": [{"propertyName": name, "operator": operator, **values}]}
        ]
    }


def test_search_eq_is_case_insensitive(sandbox, client):
    acme, _ = make_companies(sandbox, ["Acme Ltd", "Other Ltd"])

    assert search_ids(client, one_filter("name", "EQ", value="ACME LTD")) == [acme]


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        ("LT", "20", ["10"]),
        ("LTE", "20", ["10", "20"]),
        ("GT", "20", ["30"]),
        ("GTE", "20", ["20", "30"]),
        ("NEQ", "20", ["10", "30"]),
    ],
)
def test_search_number_comparisons(sandbox, client, operator, value, expected):
    for employees in ("10", "20", "30"):
        sandbox.store.create(
            "companies", {"name": employees, "numberofemployees": employees}
        )
    body = one_filter("numberofemployees", operator, value=value)
    body["properties"] = ["name"]

    response = client.post(SEARCH, body).json()

    assert [r["properties"]["name"] for r in response["results"]] == expected


def test_search_has_property_and_in(sandbox, client):
    with_domain = make_companies(sandbox, ["A"], domain="a.example")
    without = make_companies(sandbox, ["B"])
    in_list = make_companies(sandbox, ["C"], city="Leeds")

    assert search_ids(client, one_filter("domain", "HAS_PROPERTY")) == with_domain
    assert (
        search_ids(client, one_filter("domain", "NOT_HAS_PROPERTY"))
        == without + in_list
    )
    assert (
        search_ids(client, one_filter("city", "IN", values=["leeds", "york"]))
        == in_list
    )


def test_search_in_string_needs_lowercase_values(sandbox, client):
    leeds = make_companies(sandbox, ["A"], city="Leeds")

    assert search_ids(client, one_filter("city", "IN", values=["leeds"])) == leeds
    assert search_ids(client, one_filter("city", "IN", values=["Leeds"])) == []
    assert search_ids(client, one_filter("city", "NOT_IN", values=["Leeds"])) == leeds


def test_search_enumeration_is_case_sensitive(sandbox, client):
    lead = sandbox.store.create(
        "contacts", {"email": "ann@acme.example", "lifecyclestage": "lead"}
    )["id"]
    path = "/crm/v3/objects/contacts/search"

    exact = one_filter("lifecyclestage", "EQ", value="lead")
    capitalised = one_filter("lifecyclestage", "EQ", value="LEAD")

    assert search_ids(client, exact, path) == [lead]
    assert search_ids(client, capitalised, path) == []


def test_search_contains_token_with_wildcard(sandbox, client):
    ann = sandbox.store.create(
        "contacts", {"email": "ann@acme.example", "firstname": "Ann"}
    )
    sandbox.store.create("contacts", {"email": "bob@other.example", "firstname": "Bob"})
    path = "/crm/v3/objects/contacts/search"

    found = search_ids(
        client, one_filter("email", "CONTAINS_TOKEN", value="*@acme.example"), path
    )

    assert found == [ann["id"]]
    assert search_ids(
        client, one_filter("firstname", "CONTAINS_TOKEN", value="ann"), path
    ) == [ann["id"]]


def test_filter_groups_are_ored_and_filters_anded(sandbox, client):
    leeds_big, leeds_small, york = (
        sandbox.store.create(
            "companies", {"name": n, "city": c, "numberofemployees": e}
        )["id"]
        for n, c, e in (
            ("L1", "Leeds", "500"),
            ("L2", "Leeds", "5"),
            ("Y", "York", "5"),
        )
    )
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "city", "operator": "EQ", "value": "Leeds"},
                    {
                        "propertyName": "numberofemployees",
                        "operator": "GT",
                        "value": "100",
                    },
                ]
            },
            {"filters": [{"propertyName": "city", "operator": "EQ", "value": "York"}]},
        ]
    }

    assert search_ids(client, body) == [leeds_big, york]
    assert leeds_small not in search_ids(client, body)


def test_search_modified_date_accepts_epoch_ms_and_iso(sandbox, client):
    sandbox.store.clock = lambda: FROZEN - timedelta(days=1)
    make_companies(sandbox, ["Old"])
    sandbox.store.clock = lambda: FROZEN
    new = make_companies(sandbox, ["New"])
    epoch_ms = str(int(FROZEN.timestamp() * 1000))

    by_epoch = one_filter("hs_lastmodifieddate", "GTE", value=epoch_ms)
    by_iso = one_filter("hs_lastmodifieddate", "GTE", value="2024-03-01T12:00:00.000Z")

    assert search_ids(client, by_epoch) == new
    assert search_ids(client, by_iso) == new


def test_search_between_dates(sandbox, client):
    ids = []
    for day in range(1, 5):
        sandbox.store.clock = lambda day=day: datetime(2024, 3, day, tzinfo=UTC)
        ids += make_companies(sandbox, [f"Day {day}"])
    body = one_filter(
        "hs_lastmodifieddate",
        "BETWEEN",
        value="2024-03-02T00:00:00Z",
        highValue="2024-03-03T00:00:00Z",
    )

    assert search_ids(client, body) == ids[1:3]


def test_search_sorts_descending(sandbox, client):
    make_companies(sandbox, ["Bravo", "alpha", "Charlie"])
    body = {
        "sorts": [{"propertyName": "name", "direction": "DESCENDING"}],
        "properties": ["name"],
    }

    results = client.post(SEARCH, body).json()["results"]

    assert [r["properties"]["name"] for r in results] == ["Charlie", "Bravo", "alpha"]


def test_search_ties_page_in_id_order(sandbox, client):
    sandbox.store.clock = lambda: FROZEN
    tied = make_companies(sandbox, [f"Tied {n}" for n in range(25)])
    body = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "hs_lastmodifieddate",
                        "operator": "GTE",
                        "value": "2024-03-01T12:00:00Z",
                    }
                ]
            }
        ],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 10,
    }

    seen, after = [], None
    while True:
        response = client.post(
            SEARCH, {**body, **({"after": after} if after else {})}
        ).json()
        assert response["total"] == 25
        seen += [record["id"] for record in response["results"]]
        after = response.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break

    assert seen == tied
    modified = {
        sandbox.store.get("companies", i)["properties"]["hs_lastmodifieddate"]
        for i in seen
    }
    assert modified == {"2024-03-01T12:00:00.000Z"}


def test_search_offset_shifts_on_change(sandbox, client):
    sandbox.store.clock = lambda: FROZEN
    first, second, third = make_companies(sandbox, ["A", "B", "C"])
    body = {
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 1,
    }
    assert search_ids(client, body) == [first]

    sandbox.store.clock = lambda: FROZEN + timedelta(seconds=1)
    sandbox.store.update("companies", first, {"name": "A2"})

    # The offset cursor now skips B, as HubSpot's does when the order changes.
    assert search_ids(client, {**body, "after": "1"}) == [third]
    assert second not in search_ids(client, {**body, "after": "1"})


def test_search_limit_default_and_max(sandbox, client):
    make_companies(sandbox, [f"C{n}" for n in range(12)])

    assert len(search_ids(client, {})) == 10
    assert client.post(SEARCH, {"limit": 201}).status_code == 400
    assert len(search_ids(client, {"limit": 200})) == 12


def test_search_rejects_paging_beyond_10000(sandbox, client):
    store = sandbox.store
    with store.lock:
        for n in range(10_050):
            store.create("companies", {"name": f"C{n}"}, emit_events=False)

    last_page = client.post(SEARCH, {"limit": 100, "after": "9900"})
    beyond = client.post(
        SEARCH, {"limit": 100, "after": last_page.json()["paging"]["next"]["after"]}
    )
    straddling = client.post(SEARCH, {"limit": 100, "after": "9950"})

    assert last_page.status_code == 200
    assert last_page.json()["total"] == 10_050
    assert last_page.json()["paging"]["next"]["after"] == "10000"
    assert beyond.status_code == 400
    assert beyond.json()["category"] == "VALIDATION_ERROR"
    assert len(straddling.json()["results"]) == 50


def test_search_rejects_too_many_filters(client):
    filters = [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 7
    response = client.post(SEARCH, {"filterGroups": [{"filters": filters}]})

    assert response.status_code == 400
    assert "Too many filters" in response.json()["message"]


def test_search_rejects_body_over_3000_characters(client):
    values = [f"company-{n:05d}" for n in range(300)]
    response = client.post(SEARCH, one_filter("name", "IN", values=values))

    assert response.status_code == 400
    assert "3000" in response.json()["message"]


def test_search_excludes_archived(sandbox, client):
    live_id, archived_id = make_companies(sandbox, ["Live", "Archived"])
    sandbox.store.archive("companies", archived_id)

    assert search_ids(client, {}) == [live_id]


def test_search_by_association(sandbox, client):
    company = sandbox.store.create("companies", {"name": "Acme"})["id"]
    linked = sandbox.store.create("contacts", {"firstname": "Ann"})["id"]
    sandbox.store.create("contacts", {"firstname": "Bob"})
    sandbox.store.associate("contacts", linked, "companies", company)

    body = one_filter("associations.company", "EQ", value=company)

    assert search_ids(client, body, "/crm/v3/objects/contacts/search") == [linked]


def test_search_query_matches_default_searchable_properties(sandbox, client):
    acme = make_companies(sandbox, ["Acme Widgets"])
    make_companies(sandbox, ["Other"])

    assert search_ids(client, {"query": "widg"}) == acme


# -- batch -------------------------------------------------------------


def test_batch_create_all_valid_is_201(client):
    response = client.post(
        "/crm/v3/objects/companies/batch/create",
        {"inputs": [{"properties": {"name": f"C{n}"}} for n in range(3)]},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "COMPLETE"
    assert len(body["results"]) == 3
    assert "errors" not in body


def test_batch_create_with_invalid_email_is_207(client):
    response = client.post(
        "/crm/v3/objects/contacts/batch/create",
        {
            "inputs": [
                {
                    "properties": {"email": "good@acme.example"},
                    "objectWriteTraceId": "row-1",
                },
                {"properties": {"email": "bad@@acme"}, "objectWriteTraceId": "row-2"},
            ]
        },
    )

    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 1
    assert body["results"][0]["objectWriteTraceId"] == "row-1"
    error = body["errors"][0]
    assert error["status"] == "error"
    assert error["category"] == "VALIDATION_ERROR"
    assert error["context"]["objectWriteTraceId"] == ["row-2"]
    assert "INVALID_EMAIL" in error["message"]


def test_batch_update_with_unknown_id_is_207(sandbox, client):
    known = make_companies(sandbox, ["Known"])[0]

    response = client.post(
        "/crm/v3/objects/companies/batch/update",
        {
            "inputs": [
                {"id": known, "properties": {"city": "Leeds"}},
                {"id": "99999", "properties": {"city": "York"}},
            ]
        },
    )

    assert response.status_code == 207
    body = response.json()
    assert body["results"][0]["properties"]["city"] == "Leeds"
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"]["ids"] == ["99999"]


def test_batch_read_with_missing_ids_is_207(sandbox, client):
    known = make_companies(sandbox, ["Known"])[0]

    response = client.post(
        "/crm/v3/objects/companies/batch/read",
        {"inputs": [{"id": known}, {"id": "424242"}], "properties": ["name"]},
    )

    assert response.status_code == 207
    body = response.json()
    assert body["results"][0]["properties"]["name"] == "Known"
    assert body["errors"][0]["context"]["ids"] == ["424242"]


def test_batch_read_by_email(sandbox, client):
    contact = sandbox.store.create("contacts", {"email": "ann@acme.example"})["id"]

    response = client.post(
        "/crm/v3/objects/contacts/batch/read",
        {"inputs": [{"id": "ANN@acme.example"}], "idProperty": "email"},
    )

    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == contact


def test_batch_archive_is_204(sandbox, client):
    ids = make_companies(sandbox, ["A", "B"])

    response = client.post(
        "/crm/v3/objects/companies/batch/archive",
        {"inputs": [{"id": ids[0]}, {"id": "31337"}]},
    )

    assert response.status_code == 204
    assert sandbox.store.get("companies", ids[0]) is None
    assert sandbox.store.get("companies", ids[1]) is not None


@pytest.mark.parametrize("operation", ["read", "create", "update", "archive"])
def test_batch_over_100_inputs_is_400(client, operation):
    inputs = [{"id": str(n), "properties": {"name": "x"}} for n in range(101)]

    response = client.post(
        f"/crm/v3/objects/companies/batch/{operation}", {"inputs": inputs}
    )

    assert response.status_code == 400
    assert "at most 100" in response.json()["message"]
