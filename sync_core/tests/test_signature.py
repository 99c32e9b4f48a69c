import base64
import hashlib
import hmac
import time

import pytest

from sync_core import signature
from sync_core.errors import SignatureError

SECRET = "client-secret-for-tests"
URI = "https://127.0.0.1:8069/crm_sync/webhook/3?source=hubspot"
BODY = b'[{"eventId":1,"objectId":501,"subscriptionType":"contact.creation"}]'
NOW_MS = 1_700_000_000_000
TIMESTAMP = str(NOW_MS - 1_000)


def reference_signature(secret, text):
    digest = hmac.new(secret.encode(), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_compute_v3_matches_documented_recipe():
    expected = reference_signature(SECRET, "POST" + URI + BODY.decode() + TIMESTAMP)
    assert signature.compute_v3(SECRET, "POST", URI, BODY, TIMESTAMP) == expected


def test_compute_v3_accepts_text_body():
    from_bytes = signature.compute_v3(SECRET, "POST", URI, BODY, TIMESTAMP)
    from_text = signature.compute_v3(SECRET, "POST", URI, BODY.decode(), TIMESTAMP)
    assert from_bytes == from_text


def test_compute_v3_non_ascii_body_is_utf8():
    body = '[{"propertyValue":"Königlich Essen"}]'
    expected = reference_signature(SECRET, "POST" + URI + body + TIMESTAMP)
    result = signature.compute_v3(SECRET, "POST", URI, body.encode("utf-8"), TIMESTAMP)
    assert result == expected


def test_signed_uri_decodes_listed_escapes():
    uri = "https://example.test/hook%3Fa=b%2Fc%40d%21%24%27%28%29%2a%2C%3B"
    assert signature.signed_uri(uri) == "https://example.test/hook?a=b/c@d!$'()*,;"


def test_signed_uri_keeps_other_escapes():
    uri = "https://example.test/hook?name=J%C3%BCrgen%20Smith&x=%26%3D%2B"
    # "=", "&", "+" and non-ASCII escapes are signed as sent.
    assert signature.signed_uri(uri) == uri


def test_compute_v3_encoded_and_decoded_uri_agree():
    encoded = "https://example.test/hook%3Fportal=99"
    decoded = "https://example.test/hook?portal=99"
    first = signature.compute_v3(SECRET, "POST", encoded, BODY, TIMESTAMP)
    second = signature.compute_v3(SECRET, "POST", decoded, BODY, TIMESTAMP)
    assert first == second


def test_verify_v3_accepts_valid_request():
    sent = signature.compute_v3(SECRET, "POST", URI, BODY, TIMESTAMP)
    assert signature.verify_v3(
        SECRET, "POST", URI, BODY, TIMESTAMP, sent, now_ms=NOW_MS
    )


@pytest.mark.parametrize(
    ("field", "changed"),
    [
        ("body", BODY + b" "),
        ("uri", URI + "&extra=1"),
        ("method", "PUT"),
        ("secret", "another-secret"),
    ],
)
def test_verify_v3_rejects_tampered_request(field, changed):
    sent = signature.compute_v3(SECRET, "POST", URI, BODY, TIMESTAMP)
    request = {"secret": SECRET, "method": "POST", "uri": URI, "body": BODY}
    request[field] = changed
    with pytest.raises(SignatureError) as caught:
        signature.verify_v3(
            request["secret"],
            request["method"],
            request["uri"],
            request["body"],
            TIMESTAMP,
            sent,
            now_ms=NOW_MS,
        )
    assert "does not match" in str(caught.value)


def test_verify_v3_rejects_changed_timestamp():
    sent = signature.compute_v3(SECRET, "POST", URI, BODY, TIMESTAMP)
    other_timestamp = str(int(TIMESTAMP) + 1)
    with pytest.raises(SignatureError):
        signature.verify_v3(
            SECRET, "POST", URI, BODY, other_timestamp, sent, now_ms=NOW_MS
        )


def test_verify_v3_rejects_old_timestamp():
    old = str(NOW_MS - signature.SIGNATURE_TOLERANCE_MS - 1)
    sent = signature.compute_v3(SECRET, "POST", URI, BODY, old)
    with pytest.raises(SignatureError) as caught:
        signature.verify_v3(SECRET, "POST", URI, BODY, old, sent, now_ms=NOW_MS)
    assert "old" in str(caught.value)


def test_verify_v3_accepts_timestamp_at_limit():
    edge = str(NOW_MS - signature.SIGNATURE_TOLERANCE_MS)
    sent = signature.compute_v3(SECRET, "POST", URI, BODY, edge)
    assert signature.verify_v3(SECRET, "POST", URI, BODY, edge, sent, now_ms=NOW_MS)


def test_verify_v3_rejects_future_timestamp():
    future = str(NOW_MS + signature.SIGNATURE_TOLERANCE_MS + 1)
    sent = signature.compute_v3(SECRET, "POST", URI, BODY, future)
    with pytest.raises(SignatureError) as caught:
        signature.verify_v3(SECRET, "POST", URI, BODY, future, sent, now_ms=NOW_MS)
    assert "future" in str(caught.value)


@pytest.mark.parametrize("timestamp", ["", None, "yesterday", "1.5e12"])
def test_verify_v3_rejects_bad_timestamp(timestamp):
    with pytest.raises(SignatureError):
        signature.verify_v3(SECRET, "POST", URI, BODY, timestamp, "abc", now_ms=NOW_MS)


@pytest.mark.parametrize("sent", ["", None, "not-base64", "Zm9v", "é"])
def test_verify_v3_rejects_bad_signature(sent):
    with pytest.raises(SignatureError):
        signature.verify_v3(SECRET, "POST", URI, BODY, TIMESTAMP, sent, now_ms=NOW_MS)


def test_verify_v3_rejects_empty_secret():
    # An empty key would let anyone compute a valid signature.
    sent = signature.compute_v3("", "POST", URI, BODY, TIMESTAMP)
    with pytest.raises(SignatureError) as caught:
        signature.verify_v3("", "POST", URI, BODY, TIMESTAMP, sent, now_ms=NOW_MS)
    assert "client secret" in str(caught.value)


def test_verify_v3_uses_clock_by_default():
    now = str(time.time_ns() // 1_000_000)
    sent = signature.compute_v3(SECRET, "POST", URI, BODY, now)
    assert signature.verify_v3(SECRET, "POST", URI, BODY, now, sent)


def test_verify_v3_accepts_sandbox_signature():
    # The project's CRM sandbox signs its webhook deliveries the way HubSpot
    # does, so its signatures must pass the production check.
    sandbox_webhooks = pytest.importorskip("crm_sandbox.webhooks")

    uri = "http://127.0.0.1:8069/crm_sync/webhook/1"
    sent = sandbox_webhooks.sign_v3(SECRET, "POST", uri, BODY.decode(), TIMESTAMP)
    assert signature.verify_v3(
        SECRET, "POST", uri, BODY, TIMESTAMP, sent, now_ms=NOW_MS
    )
