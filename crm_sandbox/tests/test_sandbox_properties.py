"""The CRM v3 Properties API: list, read and create property definitions."""

import pytest
from sandbox_testing import Client

PROPERTIES = "/crm/v3/properties/companies"
SYNC_KEY = {
    "name": "odoo_sync_key",
    "label": "Odoo sync key",
    "type": "string",
    "fieldType": "text",
    "groupName": "companyinformation",
    "hasUniqueValue": True,
}


def test_missing_property_is_404(client):
    response = client.get(PROPERTIES + "/odoo_sync_key")

    assert response.status_code == 404
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"]
    assert "odoo_sync_key" in body["message"]


def test_create_then_read_property(client):
    created = client.post(PROPERTIES, SYNC_KEY)
    read = client.get(PROPERTIES + "/odoo_sync_key")

    assert created.status_code == 201
    assert read.status_code == 200
    body = read.json()
    assert body == created.json()
    assert body["name"] == "odoo_sync_key"
    assert body["label"] == "Odoo sync key"
    assert body["type"] == "string"
    assert body["fieldType"] == "text"
    assert body["groupName"] == "companyinformation"
    assert body["hasUniqueValue"] is True
    assert body["options"] == []
    assert body["modificationMetadata"]["archivable"] is True
    assert "hubspotDefined" not in body
    assert body["createdAt"].endswith("Z")


def test_created_property_takes_values(client):
    client.post(PROPERTIES, SYNC_KEY)

    written = client.post(
        "/crm/v3/objects/companies",
        {"properties": {"name": "Acme Ltd", "odoo_sync_key": "odoo:abc:1"}},
    )
    found = client.post(
        "/crm/v3/objects/companies/search",
        {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "odoo_sync_key",
                            "operator": "EQ",
                            "value": "odoo:abc:1",
                        }
                    ]
                }
            ]
        },
    )

    assert written.status_code == 201
    assert found.json()["total"] == 1


def test_write_before_create_is_rejected(client):
    response = client.post(
        "/crm/v3/objects/companies",
        {"properties": {"name": "Acme Ltd", "odoo_sync_key": "odoo:abc:1"}},
    )

    assert response.status_code == 400
    assert 'Property \\"odoo_sync_key\\" does not exist' in response.text


def test_second_create_is_409(client):
    first = client.post(PROPERTIES, SYNC_KEY)
    second = client.post(PROPERTIES, {**SYNC_KEY, "label": "Another label"})

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["category"] == "CONFLICT"
    assert client.get(PROPERTIES + "/odoo_sync_key").json()["label"] == "Odoo sync key"


def test_create_builtin_name_is_409(client):
    response = client.post(PROPERTIES, {**SYNC_KEY, "name": "name"})

    assert response.status_code == 409


def test_list_has_builtin_and_created_properties(client):
    client.post(PROPERTIES, SYNC_KEY)

    response = client.get(PROPERTIES)

    assert response.status_code == 200
    by_name = {item["name"]: item for item in response.json()["results"]}
    assert by_name["odoo_sync_key"]["hasUniqueValue"] is True
    assert by_name["name"]["hubspotDefined"] is True
    assert by_name["name"]["modificationMetadata"]["readOnlyDefinition"] is True
    assert by_name["hs_lastmodifieddate"]["type"] == "datetime"
    assert by_name["hs_lastmodifieddate"]["fieldType"] == "date"
    assert by_name["hs_lastmodifieddate"]["modificationMetadata"]["readOnlyValue"]
    assert by_name["lifecyclestage"]["fieldType"] == "select"
    assert {"label": "lead", "value": "lead", "displayOrder": 1, "hidden": False} in (
        by_name["lifecyclestage"]["options"]
    )


def test_archived_listing_is_empty(client):
    client.post(PROPERTIES, SYNC_KEY)

    response = client.get(PROPERTIES, params={"archived": "true"})

    assert response.json() == {"results": []}


def test_type_aliases_name_one_object_type(client):
    client.post("/crm/v3/properties/0-2", SYNC_KEY)

    response = client.get("/crm/v3/properties/company/odoo_sync_key")

    assert response.status_code == 200


def test_reset_drops_created_properties(sandbox, client):
    client.post(PROPERTIES, SYNC_KEY)

    sandbox.reset()

    assert client.get(PROPERTIES + "/odoo_sync_key").status_code == 404


def test_enumeration_property_checks_options(client):
    created = client.post(
        PROPERTIES,
        {
            "name": "account_tier",
            "label": "Account tier",
            "type": "enumeration",
            "fieldType": "select",
            "groupName": "companyinformation",
            "options": [
                {"label": "Gold", "value": "gold"},
                {"label": "Silver", "value": "silver"},
            ],
        },
    )
    valid = client.post(
        "/crm/v3/objects/companies", {"properties": {"account_tier": "gold"}}
    )
    invalid = client.post(
        "/crm/v3/objects/companies", {"properties": {"account_tier": "bronze"}}
    )

    assert created.status_code == 201
    assert created.json()["options"][0] == {
        "label": "Gold",
        "value": "gold",
        "displayOrder": 0,
        "hidden": False,
    }
    assert valid.status_code == 201
    assert invalid.status_code == 400


@pytest.mark.parametrize(
    ("change", "expected_in_message"),
    [
        ({"label": None, "groupName": None}, "label, groupName"),
        ({"name": "Odoo Sync Key"}, "Property name 'Odoo Sync Key' is not valid"),
        ({"name": "1st_key"}, "is not valid"),
        ({"type": "bool"}, "Property type 'bool' is not supported"),
        ({"fieldType": "number"}, "Field type 'number' does not fit property type"),
        ({"groupName": "socialmediainformation"}, "socialmediainformation"),
        ({"hasUniqueValue": "yes"}, "hasUniqueValue must be true or false"),
        ({"type": "enumeration", "fieldType": "select"}, "needs options"),
    ],
)
def test_invalid_create_is_400(client, change, expected_in_message):
    body = {key: value for key, value in {**SYNC_KEY, **change}.items() if value}

    response = client.post(PROPERTIES, body)

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert expected_in_message in response.json()["message"]
    assert response.json()["errors"][0]["message"]
    assert client.get(PROPERTIES + "/odoo_sync_key").status_code == 404


def test_object_read_scope_reads_properties(sandbox, client):
    sandbox.set_scopes(["crm.objects.companies.read"])

    listing = client.get(PROPERTIES)
    missing = client.get(PROPERTIES + "/odoo_sync_key")

    assert listing.status_code == 200
    assert missing.status_code == 404


def test_schema_read_scope_reads_properties(sandbox, client):
    sandbox.set_scopes(["crm.schemas.companies.read"])

    assert client.get(PROPERTIES).status_code == 200
    assert client.get("/crm/v3/objects/companies").status_code == 403


def test_read_without_scope_is_403_naming_both(sandbox, client):
    sandbox.set_scopes(["crm.objects.companies.write", "crm.schemas.companies.write"])

    response = client.get(PROPERTIES + "/name")

    assert response.status_code == 403
    assert response.json()["category"] == "MISSING_SCOPES"
    assert response.json()["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.schemas.companies.read",
        "crm.objects.companies.read",
    ]


def test_create_needs_schema_write_scope(sandbox, client):
    sandbox.set_scopes(["crm.objects.companies.read", "crm.objects.companies.write"])

    response = client.post(PROPERTIES, SYNC_KEY)

    assert response.status_code == 403
    assert response.json()["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.schemas.companies.write"
    ]
    assert "crm.schemas.companies.write" in response.json()["message"]
    sandbox.set_scopes(["crm.schemas.companies.read"])
    assert client.get(PROPERTIES + "/odoo_sync_key").status_code == 404


def test_create_scope_is_per_object_type(sandbox, client):
    sandbox.set_scopes(["crm.schemas.contacts.write"])

    companies = client.post(PROPERTIES, SYNC_KEY)
    contacts = client.post(
        "/crm/v3/properties/contacts", {**SYNC_KEY, "groupName": "contactinformation"}
    )

    assert companies.status_code == 403
    assert contacts.status_code == 201


def test_properties_need_token(sandbox):
    response = Client(sandbox.base_url, token=None).get(PROPERTIES)

    assert response.status_code == 401
