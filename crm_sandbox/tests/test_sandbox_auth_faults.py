"""Authentication, scopes, rate limits and fault switches."""

import json
import time

import pytest
import requests
from sandbox_testing import TOKEN, Client

from crm_sandbox.server import SandboxServer

COMPANIES = "/crm/v3/objects/companies"
RATE_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
)


def test_missing_token_is_401(sandbox):
    response = Client(sandbox.base_url, token=None).get(COMPANIES)

    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"]


def test_wrong_token_is_401(sandbox):
    response = Client(sandbox.base_url, token="not-the-token").get(COMPANIES)

    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION"


def test_missing_scope_is_403_naming_the_scope(sandbox, client):
    sandbox.set_scopes(["crm.objects.companies.read"])

    read = client.get(COMPANIES)
    write = client.post(COMPANIES, {"properties": {"name": "Acme"}})
    contacts = client.get("/crm/v3/objects/contacts")

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["category"] == "MISSING_SCOPES"
    assert "crm.objects.companies.write" in write.json()["message"]
    assert write.json()["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.objects.companies.write"
    ]
    assert contacts.status_code == 403
    assert "crm.objects.contacts.read" in contacts.json()["message"]


def test_second_token_with_its_own_scopes(sandbox):
    sandbox.add_token("reader", scopes=["crm.objects.contacts.read"], app_id=555)
    reader = Client(sandbox.base_url, token="reader")

    assert reader.get("/crm/v3/objects/contacts").status_code == 200
    assert reader.get(COMPANIES).status_code == 403


def test_every_crm_response_has_rate_limit_headers(sandbox, client):
    responses = [
        client.get(COMPANIES),
        client.get(f"{COMPANIES}/1"),
        Client(sandbox.base_url, token=None).get(COMPANIES),
    ]

    for response in responses:
        for header in RATE_HEADERS:
            assert header in response.headers, (response.status_code, header)
    assert responses[0].headers["X-HubSpot-RateLimit-Max"] == "100"
    assert responses[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


def test_rate_limit_remaining_counts_down(client):
    first = client.get(COMPANIES)
    second = client.get(COMPANIES)

    assert int(first.headers["X-HubSpot-RateLimit-Remaining"]) == 99
    assert int(second.headers["X-HubSpot-RateLimit-Remaining"]) == 98


def test_rate_limit_answers_429_in_hubspot_shape():
    with SandboxServer(
        port=0, access_token=TOKEN, rate_limit=3, rate_window=10.0
    ) as server:
        client = Client(server.base_url)
        statuses = [client.get(COMPANIES).status_code for _ in range(3)]
        limited = client.get(COMPANIES)

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    body = limited.json()
    assert body["category"] == "RATE_LIMITS"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert limited.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert limited.headers["X-HubSpot-RateLimit-Max"] == "3"
    assert 1 <= int(limited.headers["Retry-After"]) <= 10


def test_rate_limit_window_rolls():
    with SandboxServer(
        port=0, access_token=TOKEN, rate_limit=2, rate_window=0.3
    ) as server:
        client = Client(server.base_url)
        client.get(COMPANIES)
        client.get(COMPANIES)
        limited = client.get(COMPANIES)
        time.sleep(0.35)
        after_window = client.get(COMPANIES)

    assert limited.status_code == 429
    assert after_window.status_code == 200


def test_rate_limit_is_per_token():
    with SandboxServer(port=0, access_token=TOKEN, rate_limit=1) as server:
        server.add_token("other-app")
        client = Client(server.base_url)
        other = Client(server.base_url, token="other-app")
        client.get(COMPANIES)

        assert client.get(COMPANIES).status_code == 429
        assert other.get(COMPANIES).status_code == 200


def test_search_rate_limit_is_separate():
    with SandboxServer(port=0, access_token=TOKEN, search_rate_limit=2) as server:
        client = Client(server.base_url)
        searches = [
            client.post(f"{COMPANIES}/search", {}).status_code for _ in range(3)
        ]
        listing = client.get(COMPANIES)

    assert searches == [200, 200, 429]
    assert listing.status_code == 200


def test_control_api_is_not_rate_limited():
    with SandboxServer(port=0, access_token=TOKEN, rate_limit=1) as server:
        client = Client(server.base_url)
        statuses = [client.get("/_sandbox/stats").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


# -- faults ------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_fail_next_forces_status(sandbox, client, status):
    sandbox.faults.fail_next(2, status)

    forced = [client.get(COMPANIES).status_code for _ in range(2)]
    normal = client.get(COMPANIES)

    assert forced == [status, status]
    assert normal.status_code == 200


def test_forced_429_carries_retry_after(sandbox, client):
    sandbox.faults.fail_next(1, 429)

    response = client.get(COMPANIES)

    assert response.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert response.headers["Retry-After"] == "1"
    assert response.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_forced_502_is_an_html_gateway_page(sandbox, client):
    sandbox.faults.fail_next(1, 502)

    response = client.get(COMPANIES)

    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_fail_next_with_path_prefix(sandbox, client):
    sandbox.faults.fail_next(1, 500, path_prefix="/crm/v3/objects/contacts")

    assert client.get(COMPANIES).status_code == 200
    assert client.get("/crm/v3/objects/contacts").status_code == 500


def test_error_rate_is_reproducible_with_seed(sandbox, client):
    def run():
        sandbox.faults.set_error_rate(0.5, seed=42)
        return [client.get(COMPANIES).status_code for _ in range(20)]

    first, second = run(), run()

    assert first == second
    assert 500 in first
    assert 200 in first


def test_latency_delays_calls(sandbox, client):
    sandbox.faults.set_latency(0.2)

    started = time.monotonic()
    client.get(COMPANIES)
    elapsed = time.monotonic() - started

    assert elapsed >= 0.2


def test_timeout_applies_the_write_before_the_wait(sandbox, client):
    sandbox.faults.timeout_next(1, seconds=1.0)

    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post(COMPANIES, {"properties": {"name": "Written"}}, timeout=0.3)

    assert [c["properties"]["name"] for c in sandbox.store.all("companies")] == [
        "Written"
    ]


def test_timeout_without_applying_the_write(sandbox, client):
    sandbox.faults.timeout_next(1, seconds=0.8, apply_request=False)

    with pytest.raises(requests.exceptions.ReadTimeout):
        client.post(COMPANIES, {"properties": {"name": "Lost"}}, timeout=0.3)

    assert sandbox.store.all("companies") == []


def test_malformed_truncated_body(sandbox, client):
    sandbox.faults.malformed_next(1, "truncated")

    response = client.post(COMPANIES, {"properties": {"name": "Acme"}})

    assert response.status_code == 201
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()
    assert len(sandbox.store.all("companies")) == 1


def test_malformed_non_json_body(sandbox, client):
    sandbox.faults.malformed_next(1, "non_json")

    response = client.get(COMPANIES)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


def test_malformed_incomplete_body(sandbox, client):
    sandbox.faults.malformed_next(1, "incomplete")

    try:
        response = client.get(COMPANIES)
    except requests.exceptions.ChunkedEncodingError:
        return  # urllib3 2 checks Content-Length and raises
    # urllib3 1 returns the short body as it is.
    assert len(response.content) < int(response.headers["Content-Length"])
    assert response.headers["Connection"] == "close"


def test_faults_through_control_api(sandbox, client):
    response = client.post(
        "/_sandbox/faults",
        {"failNext": {"count": 1, "status": 503}, "latency": 0.01},
    )

    assert response.status_code == 200
    assert response.json()["pending"][0]["status"] == 503
    assert client.get(COMPANIES).status_code == 503
    assert client.post("/_sandbox/faults", {"clear": True}).json()["latency"] == 0.0


def test_faults_reject_unforceable_status(sandbox):
    with pytest.raises(ValueError, match="status must be one of"):
        sandbox.faults.fail_next(1, 418)


def test_server_refuses_non_loopback_bind():
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        SandboxServer(host="0.0.0.0")
