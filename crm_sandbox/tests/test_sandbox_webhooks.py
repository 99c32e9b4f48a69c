"""Webhook events: content, signatures, batching, retries and the control API."""

import json
import socket
import time

import pytest
from sandbox_testing import SECRET, Client

from crm_sandbox.server import SandboxServer
from crm_sandbox.webhooks import WebhookDispatcher, sign_v3


def configure(sandbox, receiver, **settings):
    sandbox.webhooks.configure(url=receiver.url, retry_delay=0.0, **settings)


def test_creation_and_property_change_events(sandbox, client, receiver):
    configure(sandbox, receiver)

    created = client.post(
        "/crm/v3/objects/contacts", {"properties": {"firstname": "Ann"}}
    ).json()
    sandbox.webhooks.flush()

    events = receiver.events()
    kinds = [(e["subscriptionType"], e.get("propertyName")) for e in events]
    assert kinds == [
        ("contact.creation", None),
        ("contact.propertyChange", "firstname"),
    ]
    creation, change = events
    assert creation["objectId"] == int(created["id"])
    assert creation["changeFlag"] == "CREATED"
    assert change["propertyValue"] == "Ann"
    for event in events:
        assert event["portalId"] == sandbox.webhooks.portal_id
        assert event["appId"] == sandbox.webhooks.app_id
        assert event["attemptNumber"] == 0
        assert isinstance(event["eventId"], int)
        assert isinstance(event["subscriptionId"], int)
        assert isinstance(event["occurredAt"], int)


def test_change_source_per_origin(sandbox, client, receiver):
    configure(sandbox, receiver)
    record = client.post(
        "/crm/v3/objects/deals", {"properties": {"dealname": "D"}}
    ).json()
    client.request(
        "PATCH",
        f"/_sandbox/crm-user/deals/{record['id']}",
        json={"properties": {"dealname": "D renamed"}, "userId": 42},
    )
    sandbox.webhooks.flush()

    sources = {
        (e["subscriptionType"], e["changeSource"], e["sourceId"])
        for e in receiver.events()
    }
    assert ("deal.creation", "INTEGRATION", str(sandbox.webhooks.app_id)) in sources
    assert ("deal.propertyChange", "CRM_UI", "userId:42") in sources


def test_unchanged_value_sends_no_event(sandbox, receiver):
    record = sandbox.store.create("companies", {"name": "Acme"})
    configure(sandbox, receiver)

    sandbox.store.update("companies", record["id"], {"name": "Acme"})

    assert sandbox.webhooks.queued() == []


def test_deletion_event(sandbox, client, receiver):
    record = sandbox.store.create("companies", {"name": "Acme"})
    configure(sandbox, receiver)

    client.delete(f"/crm/v3/objects/companies/{record['id']}")
    sandbox.webhooks.flush()

    (event,) = receiver.events()
    assert event["subscriptionType"] == "company.deletion"
    assert event["objectId"] == int(record["id"])
    assert event["changeFlag"] == "DELETED"


def test_merge_event_fields(sandbox, client, receiver):
    primary = sandbox.store.create("contacts", {"email": "ann@acme.example"})
    merged = sandbox.store.create("contacts", {"phone": "07700 900123"})
    configure(sandbox, receiver)

    response = client.post(
        "/_sandbox/merge",
        {
            "objectType": "contacts",
            "primaryObjectId": primary["id"],
            "objectIdToMerge": merged["id"],
        },
    )
    sandbox.webhooks.flush()

    assert response.status_code == 200
    (event,) = receiver.events()
    assert event["subscriptionType"] == "contact.merge"
    assert event["primaryObjectId"] == int(primary["id"])
    assert event["mergedObjectIds"] == [int(merged["id"])]
    assert event["newObjectId"] == int(primary["id"])
    assert event["objectId"] == int(primary["id"])
    assert event["numberOfPropertiesMoved"] == 1
    assert event["changeSource"] == "CRM_UI"


def test_signature_headers_verify(sandbox, receiver):
    configure(sandbox, receiver)
    sandbox.store.create("companies", {"name": "Acme"})

    sandbox.webhooks.flush()

    (request,) = receiver.requests
    headers = request["headers"]
    assert headers["X-HubSpot-Signature-Version"] == "v3"
    timestamp = headers["X-HubSpot-Request-Timestamp"]
    assert abs(int(timestamp) - time.time() * 1000) < 60_000
    expected = sign_v3(SECRET, "POST", receiver.url, request["body"], timestamp)
    assert headers["X-HubSpot-Signature-v3"] == expected
    assert (
        sign_v3("wrong-secret", "POST", receiver.url, request["body"], timestamp)
        != expected
    )


def test_batches_hold_at_most_100_events(sandbox, receiver):
    configure(sandbox, receiver, subscriptions=["company.creation"])
    for n in range(250):
        sandbox.store.create("companies", {"name": f"C{n}"})

    results = sandbox.webhooks.flush()

    sizes = [len(json.loads(request["body"])) for request in receiver.requests]
    assert sizes == [100, 100, 50]
    assert all(result.delivered for result in results)
    assert len({event["eventId"] for event in receiver.events()}) == 250


def test_retries_non_2xx_with_rising_attempt_number(sandbox, receiver):
    configure(sandbox, receiver, max_attempts=5)
    receiver.statuses = [500, 404]
    sandbox.store.create("companies", {"name": "Acme"})

    (result,) = sandbox.webhooks.flush()

    assert result.delivered is True
    assert [a["status"] for a in result.attempts] == [500, 404, 204]
    attempts = [json.loads(r["body"])[0]["attemptNumber"] for r in receiver.requests]
    assert attempts == [0, 1, 2]
    signatures = {r["headers"]["X-HubSpot-Signature-v3"] for r in receiver.requests}
    assert len(signatures) == 3


def test_gives_up_after_max_attempts(sandbox, receiver):
    configure(sandbox, receiver, max_attempts=3)
    receiver.statuses = [503, 503, 503]
    sandbox.store.create("companies", {"name": "Acme"})

    (result,) = sandbox.webhooks.flush()

    assert result.delivered is False
    assert len(result.attempts) == 3
    assert [e["subscriptionType"] for e in sandbox.webhooks.dead_letters] == [
        "company.creation",
        "company.propertyChange",
    ]


def test_connection_refused_counts_as_failure(sandbox):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sandbox.webhooks.configure(
        url=f"http://127.0.0.1:{port}/closed", retry_delay=0.0, max_attempts=2
    )
    sandbox.store.create("companies", {"name": "Acme"})

    (result,) = sandbox.webhooks.flush()

    assert result.delivered is False
    assert all(attempt["status"] is None for attempt in result.attempts)
    assert "ConnectionRefusedError" in result.attempts[0]["error"]


def test_backoff_waits_between_attempts(sandbox, receiver):
    configure(sandbox, receiver, max_attempts=3)
    sandbox.webhooks.configure(retry_delay=0.1)
    receiver.statuses = [500, 500]
    sandbox.store.create("companies", {"name": "Acme"}, emit_events=True)

    started = time.monotonic()
    sandbox.webhooks.flush()

    # Waits 0.1 s, then 0.2 s: the delay doubles.
    assert time.monotonic() - started >= 0.3


def test_no_url_queues_nothing(sandbox):
    sandbox.store.create("companies", {"name": "Acme"})

    assert sandbox.webhooks.queued() == []
    assert sandbox.webhooks.flush() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "http://10.0.0.5/hook",
        "ftp://127.0.0.1/hook",
        "not a url",
    ],
)
def test_url_off_this_machine_is_refused(url):
    with pytest.raises(ValueError, match="127"):
        WebhookDispatcher(url=url)


def test_auto_delivery_sends_without_flush(receiver):
    with SandboxServer(port=0, webhook_url=receiver.url, auto_deliver=True) as server:
        server.store.create("companies", {"name": "Acme"})
        deadline = time.monotonic() + 5
        while len(receiver.events()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

    assert [e["subscriptionType"] for e in receiver.events()] == [
        "company.creation",
        "company.propertyChange",
    ]


def test_control_api_configures_and_flushes(sandbox, receiver):
    client = Client(sandbox.base_url)

    configured = client.post(
        "/_sandbox/webhooks",
        {"url": receiver.url, "clientSecret": "other-secret", "retryDelay": 0},
    )
    client.post("/crm/v3/objects/products", {"properties": {"name": "Widget"}})
    queued = client.get("/_sandbox/webhooks/queue").json()["events"]
    flushed = client.post("/_sandbox/webhooks/flush").json()

    assert configured.status_code == 200
    assert "other-secret" not in configured.text
    assert [e["subscriptionType"] for e in queued] == [
        "product.creation",
        "product.propertyChange",
    ]
    assert flushed["batches"][0]["delivered"] is True
    request = receiver.requests[0]
    timestamp = request["headers"]["X-HubSpot-Request-Timestamp"]
    assert request["headers"]["X-HubSpot-Signature-v3"] == sign_v3(
        "other-secret", "POST", receiver.url, request["body"], timestamp
    )


def test_control_api_refuses_remote_url(sandbox):
    client = Client(sandbox.base_url)

    response = client.post("/_sandbox/webhooks", {"url": "https://hooks.example.com/x"})

    assert response.status_code == 400


def test_association_change_events_when_subscribed(sandbox, receiver):
    company = sandbox.store.create("companies", {"name": "Acme"})
    contact = sandbox.store.create("contacts", {"firstname": "Ann"})
    configure(sandbox, receiver, subscriptions=["*.associationChange"])

    sandbox.store.associate("contacts", contact["id"], "companies", company["id"])
    sandbox.store.unassociate("contacts", contact["id"], "companies", company["id"])
    sandbox.webhooks.flush()

    events = receiver.events()
    assert [(e["associationType"], e["associationRemoved"]) for e in events] == [
        ("CONTACT_TO_COMPANY", False),
        ("CONTACT_TO_COMPANY", True),
    ]
    assert events[0]["fromObjectId"] == int(contact["id"])
    assert events[0]["toObjectId"] == int(company["id"])
