"""The control API, the programmatic store API, concurrency and the command line."""

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime

from sandbox_testing import REPO_ROOT, TOKEN, Client

from crm_sandbox.server import SandboxServer


def test_control_api_needs_admin_token(sandbox):
    anonymous = Client(sandbox.base_url, token=None)
    wrong = Client(sandbox.base_url, token="nope")

    assert anonymous.get("/_sandbox/stats").status_code == 401
    assert wrong.post("/_sandbox/reset").status_code == 401


def test_separate_admin_token():
    with SandboxServer(port=0, access_token=TOKEN, admin_token="admin") as server:
        api_client = Client(server.base_url)
        admin = Client(server.base_url, token="admin")

        assert api_client.get("/_sandbox/stats").status_code == 401
        assert admin.get("/_sandbox/stats").status_code == 200
        assert admin.get("/crm/v3/objects/companies").status_code == 401


def test_stats_and_reset(sandbox, client):
    client.post("/crm/v3/objects/companies", {"properties": {"name": "Acme"}})
    sandbox.faults.fail_next(5, 500)

    before = client.get("/_sandbox/stats").json()
    reset = client.post("/_sandbox/reset")
    after = client.get("/_sandbox/stats").json()

    assert before["companies"] == {"total": 1, "archived": 0}
    assert before["requests"]["201"] == 1
    assert reset.status_code == 200
    assert after["companies"] == {"total": 0, "archived": 0}
    assert sandbox.faults.as_dict()["pending"] == []


def test_load_demo_through_control_api(client):
    response = client.post("/_sandbox/load-demo")

    assert response.status_code == 200
    loads = response.json()["loads"]
    assert [load["file"] for load in loads] == [
        "demo_companies.csv",
        "demo_contacts.csv",
    ]
    assert client.get("/_sandbox/stats").json()["contacts"]["total"] == 80


def test_crm_user_create_update_archive(sandbox, client):
    created = client.post(
        "/_sandbox/crm-user/companies", {"properties": {"name": "Typed in HubSpot"}}
    )
    company_id = created.json()["id"]
    updated = client.patch(
        f"/_sandbox/crm-user/companies/{company_id}", {"properties": {"city": "Leeds"}}
    )
    archived = client.delete(f"/_sandbox/crm-user/companies/{company_id}")

    assert created.status_code == 201
    assert updated.json()["properties"]["city"] == "Leeds"
    assert archived.status_code == 204
    history = sandbox.store.find("companies", company_id, archived=True).history["city"]
    assert history[0].source_type == "CRM_UI"


def test_crm_user_invalid_value_is_400(sandbox, client):
    company = sandbox.store.create("contacts", {"firstname": "Ann"})

    response = client.patch(
        f"/_sandbox/crm-user/contacts/{company['id']}",
        {"properties": {"email": "nope"}},
    )

    assert response.status_code == 400
    assert "INVALID_EMAIL" in response.json()["message"]


def test_tokens_and_scopes_through_control_api(sandbox, client):
    response = client.post(
        "/_sandbox/tokens",
        {"token": "limited", "scopes": ["crm.objects.deals.read"], "appId": 77},
    )
    limited = Client(sandbox.base_url, token="limited")

    assert response.status_code == 200
    assert "limited" not in response.text
    assert limited.get("/crm/v3/objects/deals").status_code == 200
    assert limited.get("/crm/v3/objects/contacts").status_code == 403


def test_rate_limit_through_control_api(sandbox, client):
    client.post("/_sandbox/rate-limit", {"limit": 1, "windowSeconds": 10})

    assert client.get("/crm/v3/objects/companies").status_code == 200
    assert client.get("/crm/v3/objects/companies").status_code == 429


def test_clock_through_control_api(sandbox, client):
    frozen = client.post("/_sandbox/clock", {"frozenAt": "2024-05-01T09:30:00Z"})
    first = client.post(
        "/crm/v3/objects/companies", {"properties": {"name": "A"}}
    ).json()
    second = client.post(
        "/crm/v3/objects/companies", {"properties": {"name": "B"}}
    ).json()
    restored = client.post("/_sandbox/clock", {})

    assert frozen.json()["now"] == "2024-05-01T09:30:00.000Z"
    assert first["updatedAt"] == second["updatedAt"] == "2024-05-01T09:30:00.000Z"
    assert restored.json()["now"] > "2025"


def test_clock_skew_moves_modified_dates_backwards(sandbox):
    sandbox.store.clock = lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    record = sandbox.store.create("companies", {"name": "A"})
    sandbox.store.clock = lambda: datetime(2024, 5, 1, 11, 59, tzinfo=UTC)

    updated = sandbox.store.update("companies", record["id"], {"name": "B"})

    assert updated["updatedAt"] < record["updatedAt"]


def test_store_programmatic_api(sandbox):
    store = sandbox.store
    company = store.create("companies", {"name": "Acme"})
    contact = store.create("contacts", {"email": "ann@acme.example"})

    store.associate("contacts", contact["id"], "companies", company["id"], [1])
    store.update("companies", company["id"], {"city": "Leeds"})

    assert store.get("companies", company["id"])["properties"]["city"] == "Leeds"
    assert [c["id"] for c in store.all("contacts")] == [contact["id"]]
    assert store.labels_between(
        "contacts", contact["id"], "companies", company["id"]
    ) == ["Primary"]
    assert store.archive("contacts", contact["id"]) is True
    assert store.get("contacts", contact["id"]) is None
    assert store.associations_of("companies", company["id"], "contacts") == []


def test_new_primary_company_replaces_the_old_one(sandbox):
    store = sandbox.store
    first = store.create("companies", {"name": "First"})["id"]
    second = store.create("companies", {"name": "Second"})["id"]
    contact = store.create("contacts", {"firstname": "Ann"})["id"]

    store.associate("contacts", contact, "companies", first, [1])
    store.associate("contacts", contact, "companies", second, [1])

    assert store.labels_between("contacts", contact, "companies", first) == []
    assert store.labels_between("contacts", contact, "companies", second) == ["Primary"]


def test_concurrent_creates_get_distinct_ids(sandbox):
    ids = []
    lock = threading.Lock()

    def create_many():
        client = Client(sandbox.base_url)
        for n in range(10):
            response = client.post(
                "/crm/v3/objects/companies", {"properties": {"name": f"{n}"}}
            )
            with lock:
                ids.append(response.json()["id"])

    threads = [threading.Thread(target=create_many) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(ids) == 50
    assert len(set(ids)) == 50


def test_cli_prints_url_and_stops_on_sigint():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_sandbox",
            "--port",
            "0",
            "--load-demo",
            "--token",
            "cli-token",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not any(line.startswith("Ctrl-C") for line in lines):
            line = process.stdout.readline()
            assert line, process.stderr.read()
            lines.append(line)
        url = next(
            line.split()[-1] for line in lines if line.startswith("CRM sandbox at")
        )
        stats = Client(url, token="cli-token").get("/_sandbox/stats").json()

        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)

    assert url.startswith("http://127.0.0.1:")
    assert "access token: cli-token\n" in lines
    assert stats["companies"]["total"] == 42
    assert process.returncode == 0


def test_command_line_refuses_remote_bind():
    result = subprocess.run(
        [sys.executable, "-m", "crm_sandbox", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "127.0.0.1 only" in result.stderr
