import socket

from sync_core.adapters import CheckResult, get_adapter


def closed_port():
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def details(results):
    return {result.name: result.detail for result in results}


def test_connection_passes_every_check(sandbox, adapter):
    results = adapter.check_connection(
        [("company", True), ("contact", True), ("deal", False)]
    )

    assert all(isinstance(result, CheckResult) for result in results)
    assert [result.name for result in results] == [
        "url",
        "token",
        "scope:crm.objects.companies.read",
        "scope:crm.objects.companies.write",
        "scope:crm.objects.contacts.read",
        "scope:crm.objects.contacts.write",
        "scope:crm.objects.deals.read",
    ]
    assert all(result.ok for result in results)
    assert details(results)["scope:crm.objects.deals.read"] == (
        "Deals can be read (scope crm.objects.deals.read)."
    )


def test_connection_writes_nothing(sandbox, adapter):
    adapter.check_connection(
        [("company", True), ("line_item", True), ("product", True)]
    )

    stats = sandbox.store.stats()
    assert stats["companies"]["total"] == 0
    assert stats["line_items"]["total"] == 0
    assert stats["products"]["total"] == 0


def test_connection_rejected_token(make_adapter):
    adapter = make_adapter(access_token="wrong-token")

    results = adapter.check_connection([("company", True)])

    assert [(result.name, result.ok) for result in results] == [
        ("url", True),
        ("token", False),
    ]
    assert results[1].detail == (
        "The token is not accepted (HTTP 401): check the private app access token."
    )


def test_connection_names_missing_scopes(sandbox, adapter):
    sandbox.set_scopes(["crm.objects.companies.read", "crm.objects.contacts.read"])

    results = adapter.check_connection(
        [("company", True), ("contact", False), ("deal", False)]
    )

    failed = {result.name: result.detail for result in results if not result.ok}
    assert failed == {
        "scope:crm.objects.companies.write": (
            "Missing scope crm.objects.companies.write: add it to the private app."
        ),
        "scope:crm.objects.deals.read": (
            "Missing scope crm.objects.deals.read: add it to the private app."
        ),
    }
    assert details(results)["token"] == "The access token is accepted."


def test_connection_token_without_probe_scope(sandbox, adapter):
    sandbox.set_scopes(["crm.objects.deals.read"])

    results = adapter.check_connection([("company", False), ("deal", False)])

    assert [(result.name, result.ok) for result in results] == [
        ("url", True),
        ("token", True),
        ("scope:crm.objects.companies.read", False),
        ("scope:crm.objects.deals.read", True),
    ]


def test_connection_unreachable_url():
    adapter = get_adapter("hubspot", f"http://127.0.0.1:{closed_port()}", "token")

    results = adapter.check_connection([("company", False)])

    assert len(results) == 1
    assert results[0].name == "url"
    assert results[0].ok is False
    assert "127.0.0.1" in results[0].detail
    assert "cannot be reached" in results[0].detail


def test_connection_wrong_path(make_adapter, sandbox):
    adapter = make_adapter(base_url=sandbox.base_url + "/wrong")

    results = adapter.check_connection([("company", False)])

    assert [(result.name, result.ok) for result in results] == [("url", False)]
    assert "not as a HubSpot CRM API (HTTP 404)" in results[0].detail


def test_connection_rate_limited(sandbox, adapter):
    sandbox.faults.fail_next(count=2, status=429)

    results = adapter.check_connection([("company", False)])

    assert [(result.name, result.ok) for result in results] == [
        ("url", True),
        ("service", False),
    ]
    assert results[1].detail == (
        "The CRM is rate limiting requests (HTTP 429): test again in 1 s."
    )


def test_connection_server_error(sandbox, adapter):
    sandbox.faults.fail_next(count=1, status=503, path_prefix="/crm/v3/objects/deals")

    results = adapter.check_connection([("company", False), ("deal", False)])

    assert results[-1].name == "service"
    assert results[-1].detail == (
        "The CRM returned a server error (HTTP 503): test again later."
    )
