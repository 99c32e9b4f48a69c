"""Fidelity: HubSpot's official client (hubspot-api-client v12) against the sandbox.

The client deserialises every response into the models generated from
HubSpot's OpenAPI specs and raises on shapes it does not expect, so these
calls passing means the sandbox's response shapes are right for them.
"""

import time

import pytest
from sandbox_testing import SECRET, TOKEN

hubspot = pytest.importorskip("hubspot", reason="hubspot-api-client is not installed")

from hubspot import HubSpot  # noqa: E402
from hubspot.crm.companies import (  # noqa: E402
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import ApiException as PropertiesApiException  # noqa: E402
from hubspot.crm.properties import PropertyCreate  # noqa: E402
from hubspot.utils.signature import Signature  # noqa: E402


@pytest.fixture
def official(sandbox):
    return HubSpot(access_token=TOKEN, host=sandbox.base_url)


def test_official_basic_api_round_trip(official):
    companies = official.crm.companies
    created = companies.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"name": "Acme Ltd", "city": "Leeds"}
        )
    )
    for n in range(4):
        companies.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"name": f"C{n}"})
        )

    page = companies.basic_api.get_page(limit=2, properties=["name", "city"])
    fetched = companies.basic_api.get_by_id(created.id, properties=["city"])

    assert [record.properties["name"] for record in page.results] == ["Acme Ltd", "C0"]
    assert page.paging.next.after
    next_page = companies.basic_api.get_page(limit=2, after=page.paging.next.after)
    assert len(next_page.results) == 2
    assert fetched.id == created.id
    assert fetched.properties["city"] == "Leeds"
    assert fetched.created_at.tzinfo is not None


def test_get_by_id_missing_raises_api_exception(official):
    with pytest.raises(ApiException) as raised:
        official.crm.companies.basic_api.get_by_id("987654")

    assert raised.value.status == 404
    assert "OBJECT_NOT_FOUND" in raised.value.body


def test_batch_create_and_update(official):
    batch_api = official.crm.companies.batch_api
    created = batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"name": f"Batch {n}"})
                for n in range(3)
            ]
        )
    )
    ids = sorted(record.id for record in created.results)

    updated = batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=record_id, properties={"city": "York"})
                for record_id in ids
            ]
        )
    )

    assert created.status == "COMPLETE"
    assert len(ids) == 3
    assert sorted(record.id for record in updated.results) == ids
    assert {record.properties["city"] for record in updated.results} == {"York"}


def test_batch_update_partial_failure_is_readable(official):
    batch_api = official.crm.companies.batch_api
    created = batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[SimplePublicObjectBatchInputForCreate(properties={"name": "Only"})]
        )
    )

    response = batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(
                    id=created.results[0].id, properties={"city": "Hull"}
                ),
                SimplePublicObjectBatchInput(id="555", properties={"city": "Hull"}),
            ]
        )
    )

    assert response.num_errors == 1
    assert response.errors[0].category == "OBJECT_NOT_FOUND"
    assert response.errors[0].context == {"ids": ["555"]}


def test_search_api(official, sandbox):
    for name in ("Alpha", "Beta", "Gamma"):
        sandbox.store.create("companies", {"name": name, "city": "Leeds"})
    sandbox.store.create("companies", {"name": "Delta", "city": "York"})

    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(
                filters=[Filter(property_name="city", operator="EQ", value="Leeds")]
            )
        ],
        sorts=[{"propertyName": "name", "direction": "DESCENDING"}],
        properties=["name"],
        limit=2,
    )
    first = official.crm.companies.search_api.do_search(
        public_object_search_request=request
    )
    request.after = first.paging.next.after
    second = official.crm.companies.search_api.do_search(
        public_object_search_request=request
    )

    assert first.total == 3
    assert [r.properties["name"] for r in first.results] == ["Gamma", "Beta"]
    assert [r.properties["name"] for r in second.results] == ["Alpha"]
    assert second.paging is None


def test_webhook_signature_is_valid_for_the_official_checker(sandbox, receiver):
    sandbox.webhooks.configure(url=receiver.url, retry_delay=0.0)
    sandbox.store.create("contacts", {"firstname": "Zoë"})

    sandbox.webhooks.flush()

    request = receiver.requests[0]
    headers = request["headers"]
    assert Signature.is_valid(
        signature=headers["X-HubSpot-Signature-v3"],
        client_secret=SECRET,
        request_body=request["body"],
        http_uri=receiver.url,
        http_method="POST",
        signature_version="v3",
        timestamp=headers["X-HubSpot-Request-Timestamp"],
    )
    assert not Signature.is_valid(
        signature=headers["X-HubSpot-Signature-v3"],
        client_secret="another-secret",
        request_body=request["body"],
        http_uri=receiver.url,
        signature_version="v3",
        timestamp=headers["X-HubSpot-Request-Timestamp"],
    )


def test_stale_webhook_timestamp_fails_the_official_checker(sandbox, receiver):
    sandbox.webhooks.configure(url=receiver.url, retry_delay=0.0)
    sandbox.webhooks.clock = lambda: time.time() - 600
    sandbox.store.create("contacts", {"firstname": "Ann"})

    sandbox.webhooks.flush()

    request = receiver.requests[0]
    with pytest.raises(hubspot.exceptions.InvalidSignatureTimestampError):
        Signature.is_valid(
            signature=request["headers"]["X-HubSpot-Signature-v3"],
            client_secret=SECRET,
            request_body=request["body"],
            http_uri=receiver.url,
            signature_version="v3",
            timestamp=request["headers"]["X-HubSpot-Request-Timestamp"],
        )


def test_properties_create_and_get_by_name(official):
    core_api = official.crm.properties.core_api
    with pytest.raises(PropertiesApiException) as missing:
        core_api.get_by_name("companies", "odoo_sync_key")

    created = core_api.create(
        "companies",
        PropertyCreate(
            name="odoo_sync_key",
            label="Odoo sync key",
            type="string",
            field_type="text",
            group_name="companyinformation",
            has_unique_value=True,
        ),
    )
    fetched = core_api.get_by_name("companies", "odoo_sync_key")
    listing = core_api.get_all("companies")

    assert missing.value.status == 404
    assert "OBJECT_NOT_FOUND" in missing.value.body
    assert created.name == fetched.name == "odoo_sync_key"
    assert fetched.type == "string"
    assert fetched.field_type == "text"
    assert fetched.has_unique_value is True
    assert fetched.modification_metadata.archivable is True
    assert fetched.created_at.tzinfo is not None
    assert "odoo_sync_key" in {item.name for item in listing.results}
    assert "lifecyclestage" in {item.name for item in listing.results}


def test_properties_second_create_raises_409(official):
    core_api = official.crm.properties.core_api
    definition = PropertyCreate(
        name="odoo_sync_key",
        label="Odoo sync key",
        type="string",
        field_type="text",
        group_name="contactinformation",
    )
    core_api.create("contacts", definition)

    with pytest.raises(PropertiesApiException) as conflict:
        core_api.create("contacts", definition)

    assert conflict.value.status == 409
    assert "CONFLICT" in conflict.value.body
