import json

import pytest

from sync_core.webhook_events import (
    MalformedBatchError,
    idempotency_key,
    parse_batch,
)


def encode(document):
    return json.dumps(document).encode()


def event(**fields):
    values = {
        "eventId": 101,
        "subscriptionId": 7,
        "portalId": 99,
        "occurredAt": 1_700_000_000_000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 501,
        "changeSource": "CRM_UI",
        "propertyName": "email",
        "propertyValue": "jane@example.co.uk",
    }
    values.update(fields)
    return values


def test_parse_batch_reads_events():
    events = parse_batch(encode([event(), event(eventId=102, objectId="502")]))

    assert [item.event_id for item in events] == ["101", "102"]
    assert [item.object_id for item in events] == ["501", "502"]
    assert events[0].occurred_at == 1_700_000_000_000
    assert events[0].crm_object == "contact"
    assert events[0].kind == "propertyChange"


def test_parse_batch_drops_property_value():
    (parsed,) = parse_batch(encode([event()]))

    assert "propertyValue" not in parsed.payload
    assert "subscriptionId" not in parsed.payload
    assert parsed.payload["propertyName"] == "email"
    assert parsed.payload["eventId"] == 101


def test_parse_batch_keeps_repeated_event_once():
    events = parse_batch(encode([event(), event(objectId=999)]))

    assert len(events) == 1
    assert events[0].object_id == "501"


def test_parse_batch_accepts_empty_array():
    assert parse_batch(b"[]") == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\xff\xfe", "UTF-8"),
        (b"{not json", "not valid JSON"),
        (encode({"eventId": 1}), "JSON object"),
        (encode([1, 2]), "Event 0 is a JSON number"),
        (encode([event(), "x"]), "Event 1 is a JSON string"),
        (
            encode([{k: v for k, v in event().items() if k != "eventId"}]),
            "'eventId' is missing",
        ),
        (encode([event(eventId="abc")]), "'eventId' is not a numeric id"),
        (encode([event(eventId=True)]), "'eventId' is not a numeric id"),
        (encode([event(objectId=None)]), "'objectId' is missing"),
        (encode([event(objectId=-4)]), "'objectId' is not a numeric id"),
        (encode([event(subscriptionType="")]), "'subscriptionType'"),
        (encode([event(subscriptionType=12)]), "'subscriptionType'"),
        (encode([event(occurredAt="yesterday")]), "'occurredAt'"),
    ],
)
def test_parse_batch_rejects_malformed(body, expected):
    with pytest.raises(MalformedBatchError) as caught:
        parse_batch(body)

    assert expected in str(caught.value)


def test_malformed_message_has_no_value():
    with pytest.raises(MalformedBatchError) as caught:
        parse_batch(encode([event(eventId="secret-looking-text")]))

    assert "secret-looking-text" not in str(caught.value)


@pytest.mark.parametrize(
    ("subscription_type", "route"),
    [
        ("contact.creation", ("contact", "import")),
        ("contact.propertyChange", ("contact", "import")),
        ("company.restore", ("company", "import")),
        ("company.associationChange", ("company", "import")),
        ("company.deletion", ("company", "delete")),
        ("contact.privacyDeletion", ("contact", "delete")),
        ("contact.merge", ("contact", "merge")),
        ("deal.creation", None),
        ("ticket.deletion", None),
        ("contact.somethingNew", None),
        ("conversation.creation", None),
    ],
)
def test_job_route_by_subscription_type(subscription_type, route):
    fields = {"subscriptionType": subscription_type}
    if subscription_type.endswith(".merge"):
        fields.update(primaryObjectId=501, newObjectId=501, mergedObjectIds=[502])
    (parsed,) = parse_batch(encode([event(**fields)]))

    assert parsed.job_route() == route


def test_association_event_falls_back_to_from_id():
    fields = event(
        subscriptionType="contact.associationChange",
        fromObjectId=601,
        toObjectId=701,
        associationType="CONTACT_TO_COMPANY",
    )
    del fields["objectId"]

    (parsed,) = parse_batch(encode([fields]))

    assert parsed.object_id == "601"
    assert parsed.payload["toObjectId"] == 701


def test_merge_ids_keep_primary_as_survivor():
    (parsed,) = parse_batch(
        encode(
            [
                event(
                    subscriptionType="company.merge",
                    primaryObjectId=501,
                    newObjectId=501,
                    mergedObjectIds=[502, 503],
                )
            ]
        )
    )

    assert parsed.merge_ids() == ("501", ["502", "503"])


def test_merge_ids_with_new_record_merge_primary_too():
    (parsed,) = parse_batch(
        encode(
            [
                event(
                    subscriptionType="contact.merge",
                    primaryObjectId=501,
                    newObjectId=900,
                    mergedObjectIds=[502],
                )
            ]
        )
    )

    assert parsed.merge_ids() == ("900", ["502", "501"])


@pytest.mark.parametrize(
    "fields",
    [
        {"mergedObjectIds": [502]},
        {"primaryObjectId": 501, "newObjectId": 501},
        {"primaryObjectId": 501, "mergedObjectIds": "502"},
        {"primaryObjectId": 501, "mergedObjectIds": ["x"]},
        {"primaryObjectId": "abc", "mergedObjectIds": [502]},
    ],
)
def test_merge_without_ids_is_malformed(fields):
    with pytest.raises(MalformedBatchError):
        parse_batch(encode([event(subscriptionType="contact.merge", **fields)]))


def test_idempotency_key_names_backend_and_event():
    assert idempotency_key(3, "101") == "webhook:3:101"
