"""Single-object endpoints, list paging, associations and merges over HTTP."""

import re
from datetime import UTC, datetime

import pytest

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PRIMARY_CONTACT_TO_COMPANY = 1
UNLABELED_CONTACT_TO_COMPANY = 279


def create(client, object_type, properties, associations=None):
    body = {"properties": properties}
    if associations:
        body["associations"] = associations
    response = client.post(f"/crm/v3/objects/{object_type}", body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_returns_hubspot_record_shape(client):
    record = create(client, "companies", {"name": "Acme Ltd", "domain": "acme.example"})

    assert set(record) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert record["id"].isdigit()
    assert record["archived"] is False
    assert ISO_MS.match(record["createdAt"])
    assert record["properties"]["hs_object_id"] == record["id"]
    assert record["properties"]["createdate"] == record["createdAt"]
    assert record["properties"]["hs_lastmodifieddate"] == record["updatedAt"]
    assert record["properties"]["name"] == "Acme Ltd"


def test_contact_has_lastmodifieddate(client):
    record = create(client, "contacts", {"email": "ann@acme.example"})

    assert record["properties"]["lastmodifieddate"] == record["updatedAt"]


def test_get_returns_default_properties_only(client):
    record = create(client, "companies", {"name": "Acme", "phone": "020 7946 0001"})

    fetched = client.get(f"/crm/v3/objects/companies/{record['id']}").json()

    assert set(fetched["properties"]) == {
        "name",
        "domain",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    }
    assert fetched["properties"]["domain"] is None


def test_get_requested_properties(client):
    record = create(client, "companies", {"name": "Acme", "phone": "020 7946 0001"})

    fetched = client.get(
        f"/crm/v3/objects/companies/{record['id']}",
        params={"properties": "phone,city,no_such_property"},
    ).json()

    assert fetched["properties"]["phone"] == "020 7946 0001"
    assert fetched["properties"]["city"] is None
    assert "no_such_property" not in fetched["properties"]
    assert "name" not in fetched["properties"]
    assert fetched["properties"]["hs_object_id"] == record["id"]


def test_get_unknown_id_is_404_in_hubspot_shape(client):
    response = client.get("/crm/v3/objects/contacts/123456")

    assert response.status_code == 404
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"]
    assert "123456" in body["message"]


def test_get_by_id_property_email(client):
    record = create(client, "contacts", {"email": "Ann@Acme.example"})

    response = client.get(
        "/crm/v3/objects/contacts/ann@acme.example", params={"idProperty": "email"}
    )

    assert response.status_code == 200
    assert response.json()["id"] == record["id"]


def test_id_property_must_be_unique_property(client):
    response = client.get(
        "/crm/v3/objects/companies/Acme", params={"idProperty": "name"}
    )

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_update_changes_value_and_modified_date(sandbox, client):
    sandbox.store.clock = lambda: datetime(2024, 1, 1, tzinfo=UTC)
    record = create(client, "companies", {"name": "Acme"})
    sandbox.store.clock = lambda: datetime(2024, 1, 2, tzinfo=UTC)

    response = client.patch(
        f"/crm/v3/objects/companies/{record['id']}", {"properties": {"name": "Acme UK"}}
    )

    assert response.status_code == 200
    updated = response.json()
    assert updated["properties"]["name"] == "Acme UK"
    assert updated["updatedAt"] == "2024-01-02T00:00:00.000Z"
    assert updated["createdAt"] == "2024-01-01T00:00:00.000Z"


def test_update_without_change_keeps_modified_date(sandbox, client):
    sandbox.store.clock = lambda: datetime(2024, 1, 1, tzinfo=UTC)
    record = create(client, "companies", {"name": "Acme"})
    sandbox.store.clock = lambda: datetime(2024, 1, 2, tzinfo=UTC)

    updated = client.patch(
        f"/crm/v3/objects/companies/{record['id']}", {"properties": {"name": "Acme"}}
    ).json()

    assert updated["updatedAt"] == "2024-01-01T00:00:00.000Z"


def test_invalid_email_is_rejected(client):
    response = client.post(
        "/crm/v3/objects/contacts", {"properties": {"email": "not-an-email"}}
    )

    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert "INVALID_EMAIL" in body["message"]
    assert body["errors"][0]["context"]["propertyName"] == ["email"]


def test_unknown_property_is_rejected(client):
    response = client.post(
        "/crm/v3/objects/companies", {"properties": {"colour": "red"}}
    )

    assert response.status_code == 400
    assert "PROPERTY_DOESNT_EXIST" in response.json()["message"]


def test_read_only_property_is_rejected(client):
    response = client.post(
        "/crm/v3/objects/companies", {"properties": {"hs_object_id": "1"}}
    )

    assert response.status_code == 400
    assert "READ_ONLY_VALUE" in response.json()["message"]


def test_duplicate_contact_email_is_conflict(client):
    first = create(client, "contacts", {"email": "ann@acme.example"})

    response = client.post(
        "/crm/v3/objects/contacts", {"properties": {"email": "ANN@acme.example"}}
    )

    assert response.status_code == 409
    assert response.json()["category"] == "CONFLICT"
    assert first["id"] in response.json()["message"]


def test_custom_company_number_kept_verbatim(client):
    record = create(
        client,
        "companies",
        {"name": "Acme", "company_number": "00102498", "vat_number": "GB123"},
    )

    assert record["properties"]["company_number"] == "00102498"
    assert record["properties"]["vat_number"] == "GB123"


def test_datetime_property_accepts_epoch_ms(client):
    record = create(
        client, "deals", {"dealname": "Big deal", "closedate": "1704067200000"}
    )

    assert record["properties"]["closedate"] == "2024-01-01T00:00:00.000Z"


def test_enumeration_property_checks_options(client):
    response = client.post(
        "/crm/v3/objects/deals", {"properties": {"dealname": "X", "dealstage": "won"}}
    )

    assert response.status_code == 400
    assert "INVALID_OPTION" in response.json()["message"]


def test_line_item_amount_is_calculated(client):
    record = create(
        client, "line_items", {"name": "Widget", "price": "12.50", "quantity": "4"}
    )

    assert record["properties"]["amount"] == "50.00"


def test_archive_hides_record_and_archived_get_finds_it(client):
    record = create(client, "companies", {"name": "Acme"})

    assert client.delete(f"/crm/v3/objects/companies/{record['id']}").status_code == 204

    assert client.get(f"/crm/v3/objects/companies/{record['id']}").status_code == 404
    archived = client.get(
        f"/crm/v3/objects/companies/{record['id']}", params={"archived": "true"}
    ).json()
    assert archived["archived"] is True
    assert ISO_MS.match(archived["archivedAt"])


def test_list_pages_with_after_cursor(client):
    created = [
        create(client, "companies", {"name": f"Company {n}"})["id"] for n in range(7)
    ]

    seen = []
    after = None
    pages = 0
    while True:
        params = {"limit": 3, **({"after": after} if after else {})}
        body = client.get("/crm/v3/objects/companies", params=params).json()
        seen += [record["id"] for record in body["results"]]
        pages += 1
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert body["paging"]["next"]["link"].endswith(f"after={after}")

    assert seen == created
    assert pages == 3


def test_list_limit_above_100_is_lowered(sandbox, client):
    for n in range(105):
        sandbox.store.create("companies", {"name": f"C{n}"}, emit_events=False)

    body = client.get("/crm/v3/objects/companies", params={"limit": 500}).json()

    assert len(body["results"]) == 100
    assert "paging" in body


def test_list_archived_returns_archived_only(client):
    live_record = create(client, "companies", {"name": "Live"})
    archived_record = create(client, "companies", {"name": "Archived"})
    client.delete(f"/crm/v3/objects/companies/{archived_record['id']}")

    live = client.get("/crm/v3/objects/companies").json()["results"]
    archived = client.get(
        "/crm/v3/objects/companies", params={"archived": "true"}
    ).json()

    assert [record["id"] for record in live] == [live_record["id"]]
    assert [record["id"] for record in archived["results"]] == [archived_record["id"]]


def test_properties_with_history_names_the_source(sandbox, client):
    record = create(client, "contacts", {"firstname": "Ann"})
    sandbox.store.update("contacts", record["id"], {"firstname": "Anne"})

    body = client.get(
        f"/crm/v3/objects/contacts/{record['id']}",
        params={"propertiesWithHistory": "firstname"},
    ).json()

    history = body["propertiesWithHistory"]["firstname"]
    assert [entry["value"] for entry in history] == ["Anne", "Ann"]
    assert history[0]["sourceType"] == "CRM_UI"
    assert history[1]["sourceType"] == "INTEGRATION"


def test_create_with_association_and_get_associations(client):
    company = create(client, "companies", {"name": "Acme"})
    contact = create(
        client,
        "contacts",
        {"email": "ann@acme.example"},
        [
            {
                "to": {"id": company["id"]},
                "types": [
                    {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": PRIMARY_CONTACT_TO_COMPANY,
                    }
                ],
            }
        ],
    )

    body = client.get(
        f"/crm/v3/objects/contacts/{contact['id']}",
        params={"associations": "companies"},
    ).json()

    results = body["associations"]["companies"]["results"]
    assert {"id": company["id"], "type": "contact_to_company"} in results
    assert {"id": company["id"], "type": "contact_to_company_unlabeled"} in results


def test_v4_association_lifecycle(client):
    company = create(client, "companies", {"name": "Acme"})
    contact = create(client, "contacts", {"email": "ann@acme.example"})
    path = f"/crm/v4/objects/contacts/{contact['id']}/associations"

    created = client.put(f"{path}/default/companies/{company['id']}")
    assert created.status_code == 200
    assert created.json()["results"][0]["associationSpec"]["associationTypeId"] == 279

    labelled = client.put(
        f"{path}/companies/{company['id']}",
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )
    assert labelled.status_code == 200
    assert labelled.json()["labels"] == ["Primary"]
    assert labelled.json()["fromObjectTypeId"] == "0-1"
    assert labelled.json()["toObjectTypeId"] == "0-2"

    listed = client.get(f"{path}/companies").json()["results"]
    assert listed[0]["toObjectId"] == int(company["id"])
    type_ids = {spec["typeId"] for spec in listed[0]["associationTypes"]}
    assert type_ids == {PRIMARY_CONTACT_TO_COMPANY, UNLABELED_CONTACT_TO_COMPANY}

    reverse = client.get(
        f"/crm/v4/objects/companies/{company['id']}/associations/contacts"
    ).json()["results"]
    assert reverse[0]["toObjectId"] == int(contact["id"])

    assert client.delete(f"{path}/companies/{company['id']}").status_code == 204
    assert client.get(f"{path}/companies").json()["results"] == []


def test_unsupported_association_pair_is_400(client):
    product = create(client, "products", {"name": "Widget"})
    company = create(client, "companies", {"name": "Acme"})

    response = client.put(
        f"/crm/v4/objects/products/{product['id']}/associations/default/companies/{company['id']}"
    )

    assert response.status_code == 400


def test_batch_read_associations_reports_records_without_any(client):
    company = create(client, "companies", {"name": "Acme"})
    deal = create(client, "deals", {"dealname": "Deal"})
    lonely = create(client, "deals", {"dealname": "Lonely"})
    client.put(
        f"/crm/v4/objects/deals/{deal['id']}/associations/default/companies/{company['id']}"
    )

    response = client.post(
        "/crm/v4/associations/deals/companies/batch/read",
        {"inputs": [{"id": deal["id"]}, {"id": lonely["id"]}]},
    )

    assert response.status_code == 207
    body = response.json()
    assert body["results"][0]["from"]["id"] == deal["id"]
    assert body["results"][0]["to"][0]["toObjectId"] == int(company["id"])
    assert body["errors"][0]["context"]["fromObjectId"] == [lonely["id"]]


def test_batch_create_and_archive_associations(client):
    deal = create(client, "deals", {"dealname": "Deal"})
    items = [
        create(client, "line_items", {"name": f"L{n}", "price": "1"}) for n in range(2)
    ]

    created = client.post(
        "/crm/v4/associations/line_items/deals/batch/create",
        {
            "inputs": [
                {
                    "from": {"id": item["id"]},
                    "to": {"id": deal["id"]},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": 20,
                        }
                    ],
                }
                for item in items
            ]
        },
    )
    assert created.status_code == 201
    listed = client.get(
        f"/crm/v4/objects/deals/{deal['id']}/associations/line_items"
    ).json()
    assert len(listed["results"]) == 2

    archived = client.post(
        "/crm/v4/associations/deals/line_items/batch/archive",
        {"inputs": [{"from": {"id": deal["id"]}, "to": [{"id": items[0]["id"]}]}]},
    )
    assert archived.status_code == 204
    listed = client.get(
        f"/crm/v4/objects/deals/{deal['id']}/associations/line_items"
    ).json()
    assert [r["toObjectId"] for r in listed["results"]] == [int(items[1]["id"])]


def test_merge_keeps_primary_and_aliases_merged_id(client):
    company = create(client, "companies", {"name": "Acme"})
    primary = create(
        client, "contacts", {"email": "ann@acme.example", "firstname": "Ann"}
    )
    merged = create(
        client,
        "contacts",
        {"email": "ann.other@acme.example", "phone": "07700 900123"},
        [
            {
                "to": {"id": company["id"]},
                "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
                ],
            }
        ],
    )

    response = client.post(
        "/crm/v3/objects/contacts/merge",
        {"primaryObjectId": primary["id"], "objectIdToMerge": merged["id"]},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == primary["id"]
    assert body["properties"]["email"] == "ann@acme.example"
    assert body["properties"]["phone"] == "07700 900123"
    assert body["properties"]["hs_merged_object_ids"] == merged["id"]
    via_old_id = client.get(f"/crm/v3/objects/contacts/{merged['id']}").json()
    assert via_old_id["id"] == primary["id"]
    associations = client.get(
        f"/crm/v4/objects/contacts/{primary['id']}/associations/companies"
    ).json()
    assert associations["results"][0]["toObjectId"] == int(company["id"])


@pytest.mark.parametrize(
    "object_type", ["companies", "contacts", "deals", "line_items", "products"]
)
def test_every_object_type_round_trips(client, object_type):
    properties = {
        "companies": {"name": "Acme"},
        "contacts": {"firstname": "Ann"},
        "deals": {"dealname": "Deal", "amount": "100"},
        "line_items": {"name": "Line", "price": "2", "quantity": "3"},
        "products": {"name": "Widget", "price": "9.99"},
    }[object_type]
    record = create(client, object_type, properties)

    fetched = client.get(
        f"/crm/v3/objects/{object_type}/{record['id']}",
        params={"properties": ",".join(properties)},
    ).json()

    for name, value in properties.items():
        assert fetched["properties"][name] == value


def test_singular_object_type_name_is_accepted(client):
    record = create(client, "companies", {"name": "Acme"})

    response = client.get(f"/crm/v3/objects/company/{record['id']}")

    assert response.status_code == 200


def test_unknown_object_type_is_400(client):
    response = client.get("/crm/v3/objects/tickets_of_doom")

    assert response.status_code == 400
    assert "Unable to infer object type" in response.json()["message"]


def test_invalid_json_body_is_400(client):
    response = client.request(
        "POST",
        "/crm/v3/objects/companies",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
