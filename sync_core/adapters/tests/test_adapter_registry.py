import pytest

from sync_core import errors
from sync_core.adapters import (
    ADAPTER_KINDS,
    ADAPTERS,
    CrmAdapter,
    HubSpotAdapter,
    InvalidBaseUrlError,
    RemoteHostNotAllowedError,
    get_adapter,
    register_adapter,
)


def test_get_adapter_builds_hubspot():
    adapter = get_adapter("hubspot", "http://127.0.0.1:8765/", "token", timeout=3)

    assert isinstance(adapter, HubSpotAdapter)
    assert adapter.base_url == "http://127.0.0.1:8765"
    assert adapter.transport.timeout == 3.0
    adapter.close()


def test_get_adapter_rejects_unknown_kind():
    with pytest.raises(ValueError, match="Unknown CRM kind 'salesforce'"):
        get_adapter("salesforce", "http://127.0.0.1:8765", "token")


def test_adapter_kinds_match_registry():
    assert ADAPTER_KINDS == [("hubspot", "HubSpot")]
    assert {kind for kind, _label in ADAPTER_KINDS} == set(ADAPTERS)


def test_register_adapter_adds_kind():
    class DummyAdapter(HubSpotAdapter):
        kind = "dummy"

    register_adapter("dummy", DummyAdapter)
    try:
        adapter = get_adapter("dummy", "http://localhost:1", "token")
        assert isinstance(adapter, DummyAdapter)
    finally:
        del ADAPTERS["dummy"]


def test_register_adapter_rejects_non_adapter():
    with pytest.raises(TypeError, match="CrmAdapter subclass"):
        register_adapter("broken", object)
    assert "broken" not in ADAPTERS


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8765",
        "http://localhost:8765",
        "http://[::1]:8765",
        "https://LOCALHOST",
    ],
)
def test_loopback_hosts_accepted(base_url):
    adapter = get_adapter("hubspot", base_url, "token")

    assert adapter.base_url == base_url


@pytest.mark.parametrize(
    "base_url",
    [
        "https://crm.example.com",
        "http://10.0.0.5:8765",
        "http://127.0.0.1.example.com",
    ],
)
def test_remote_host_rejected(base_url):
    with pytest.raises(RemoteHostNotAllowedError) as caught:
        get_adapter("hubspot", base_url, "token")

    assert "127.0.0.1, localhost or ::1" in str(caught.value)
    assert caught.value.category == errors.VALIDATION
    assert caught.value.retryable is False
    assert isinstance(caught.value, errors.SyncError)


def test_remote_host_allowed_explicitly():
    adapter = get_adapter(
        "hubspot", "https://crm.example.com", "token", allow_remote=True
    )

    assert adapter.base_url == "https://crm.example.com"
    assert adapter.transport.session.trust_env is True
    adapter.close()


def test_loopback_session_ignores_proxy_settings():
    adapter = get_adapter("hubspot", "http://127.0.0.1:8765", "token")

    assert adapter.transport.session.trust_env is False
    adapter.close()


@pytest.mark.parametrize(
    "base_url",
    [
        "",
        "127.0.0.1:8765",
        "ftp://127.0.0.1",
        "http://",
        "http://127.0.0.1/?a=1",
        "http://u:p@127.0.0.1",
        "http://127.0.0.1@crm.example.com",
    ],
)
def test_invalid_base_url_rejected(base_url):
    with pytest.raises(InvalidBaseUrlError):
        get_adapter("hubspot", base_url, "token")


def test_empty_token_rejected():
    with pytest.raises(ValueError, match="access token is empty"):
        get_adapter("hubspot", "http://127.0.0.1:8765", "")


def test_unknown_object_type_rejected():
    adapter = get_adapter("hubspot", "http://127.0.0.1:8765", "token")

    with pytest.raises(ValueError, match="Unknown object type 'ticket'"):
        adapter.get("ticket", "1", [])


def test_repr_hides_token():
    adapter = get_adapter("hubspot", "http://127.0.0.1:8765", "secret-token-value")

    assert "secret-token-value" not in repr(adapter)
    assert "secret-token-value" not in repr(adapter.transport)


def test_hubspot_adapter_implements_interface():
    abstract = {
        name
        for name, member in vars(CrmAdapter).items()
        if getattr(member, "__isabstractmethod__", False)
    }

    assert abstract <= set(vars(HubSpotAdapter))
