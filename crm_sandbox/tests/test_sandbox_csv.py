"""CSV loading: the real exports in ../shared/data/real, the demo files, the reader."""

import pytest
from sandbox_testing import real_file

from crm_sandbox.csv_loader import MAPPINGS, load_csv, read_rows
from crm_sandbox.server import SandboxServer
from crm_sandbox.store import Store

UK_FILE = "uk_london_companies_companydata_sample.csv"
NORTHWIND_FILE = "northwind_customers.csv"
SALESFORCE_FILE = "salesforce_report_accounts_contacts_lwc_recipes.csv"


def companies_by_name(store):
    return {c["properties"]["name"]: c for c in store.all("companies")}


def test_uk_companies_house_file(sandbox):
    summary = sandbox.load_csv(real_file(UK_FILE), "uk_companies_house")

    assert summary["rows"] == 1000
    assert summary["companiesCreated"] == 1000
    assert summary["contactsCreated"] == 0
    assert summary["rejected"] == []
    companies = sandbox.store.all("companies")
    assert len(companies) == 1000
    numbers = [c["properties"].get("company_number") for c in companies]
    assert numbers[0] == "00102498"
    assert numbers.count(None) == 9
    assert any(number and number.startswith("FC") for number in numbers)
    names = {c["properties"]["name"] for c in companies}
    assert "Bp P.L.C." in names
    assert any("Rück" in name for name in names)


def test_uk_file_bom_id_column_keys(sandbox):
    sandbox.load_csv(real_file(UK_FILE), "uk_companies_house")

    keys = [
        key
        for (mapping, key) in sandbox.store.import_index
        if mapping == "uk_companies_house"
    ]

    assert len(keys) == 1000
    assert "247643946" in keys


def test_northwind_customers_file(sandbox):
    summary = sandbox.load_csv(real_file(NORTHWIND_FILE), "northwind_customers")

    assert summary["rows"] == 91
    assert summary["companiesCreated"] == 91
    assert summary["contactsCreated"] == 91
    assert summary["associations"] == 91
    store = sandbox.store
    for record in store.all("companies") + store.all("contacts"):
        assert "NULL" not in record["properties"].values()
    alfreds = companies_by_name(store)["Alfreds Futterkiste"]
    assert "state" not in alfreds["properties"]
    ((contact_id, _),) = store.associations_of("companies", alfreds["id"], "contacts")
    contact = store.get("contacts", contact_id)["properties"]
    assert (contact["firstname"], contact["lastname"]) == ("Maria", "Anders")
    assert contact["jobtitle"] == "Sales Representative"


def test_salesforce_accounts_contacts_file(sandbox):
    summary = sandbox.load_csv(
        real_file(SALESFORCE_FILE), "salesforce_accounts_contacts"
    )

    assert summary["rows"] == 14
    assert summary["companiesCreated"] == 10
    assert summary["contactsCreated"] == 6
    assert summary["associations"] == 6
    alpha = companies_by_name(sandbox.store)["Alpha Dynamics"]
    assert alpha["properties"]["phone"] == "3362227000"
    contacts = sandbox.store.associations_of("companies", alpha["id"], "contacts")
    assert len(contacts) == 3


def test_demo_files_load_with_their_mess():
    server = SandboxServer()
    companies, contacts = server.load_demo()

    assert companies["companiesCreated"] == 42
    assert contacts["contactsCreated"] == 80
    # Two rows repeat an email in another case: a HubSpot import updates.
    assert contacts["contactsUpdated"] == 2
    assert contacts["associations"] == 80
    rejected = {(r["property"], r["error"]) for r in contacts["rejected"]}
    assert rejected == {("email", "INVALID_EMAIL")}
    assert len(contacts["rejected"]) == 4
    names = companies_by_name(server.store)
    assert "Zoë's Bakery Ltd" in names
    assert "ZOES BAKERY LTD" in names
    numbers = {c["properties"].get("company_number") for c in names.values()}
    assert {"SC412345", "NI612345", "OC301234", "01234567", "1234567"} <= numbers


def test_loading_twice_reuses_company_keys():
    store = Store()
    path = real_file(SALESFORCE_FILE)

    load_csv(store, path, "salesforce_accounts_contacts")
    second = load_csv(store, path, "salesforce_accounts_contacts")

    assert second["companiesCreated"] == 0
    assert second["contactsUpdated"] == 6
    assert len(store.all("companies")) == 10


def test_reader_handles_bom_semicolons_crlf_and_ragged_rows(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(
        "\ufeffName;City;Phone\r\nAcme;Leeds;0113\r\nShort;York\r\n\r\n".encode()
    )

    header, rows = read_rows(path)

    assert header == ["Name", "City", "Phone"]
    assert rows == [
        {"Name": "Acme", "City": "Leeds", "Phone": "0113"},
        {"Name": "Short", "City": "York", "Phone": ""},
    ]


def test_reader_keeps_line_breaks_in_quoted_cells(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        'Name,Notes\n"Acme","first line\nsecond line"\nBeta,x\n', encoding="utf-8"
    )

    _, rows = read_rows(path)

    assert rows == [
        {"Name": "Acme", "Notes": "first line\nsecond line"},
        {"Name": "Beta", "Notes": "x"},
    ]


def test_row_with_only_an_invalid_email_creates_nobody(tmp_path, sandbox):
    path = tmp_path / "contacts.csv"
    path.write_text("Contact: Email\nnot-an-email\n", encoding="utf-8")

    summary = sandbox.load_csv(path, "salesforce_accounts_contacts")

    assert summary["contactsCreated"] == 0
    assert summary["rejected"][0]["value"] == "not-an-email"
    assert sandbox.store.all("contacts") == []


def test_invalid_values_are_reported_and_the_rest_loaded(tmp_path, sandbox):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "Account: Account Name,Contact: First Name,Contact: Last Name,Contact: Email\n"
        "Acme,Ann,Smith,ann@@acme\n",
        encoding="utf-8",
    )

    summary = sandbox.load_csv(path, "salesforce_accounts_contacts")

    assert summary["contactsCreated"] == 1
    assert summary["rejected"] == [
        {
            "row": 2,
            "objectType": "contacts",
            "property": "email",
            "value": "ann@@acme",
            "error": "INVALID_EMAIL",
        }
    ]
    (contact,) = sandbox.store.all("contacts")
    assert "email" not in contact["properties"]


def test_unknown_mapping_is_refused(tmp_path, sandbox):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")

    with pytest.raises(ValueError, match="Unknown CSV mapping"):
        sandbox.load_csv(path, "nope")
    with pytest.raises(ValueError, match="none of the columns"):
        sandbox.load_csv(path, "northwind_customers")


def test_load_through_control_api(sandbox, client):
    path = real_file(SALESFORCE_FILE)

    response = client.post(
        "/_sandbox/load", {"path": str(path), "mapping": "salesforce_accounts_contacts"}
    )
    stats = client.get("/_sandbox/stats").json()

    assert response.status_code == 200
    assert response.json()["companiesCreated"] == 10
    assert stats["companies"]["total"] == 10
    assert stats["contacts"]["total"] == 6


def test_mapping_registry_names():
    assert set(MAPPINGS) == {
        "uk_companies_house",
        "northwind_customers",
        "salesforce_accounts_contacts",
        "sandbox_demo",
    }
