"""Loading companies and contacts from CSV exports into the store.

A named mapping maps columns to HubSpot properties. Each row may
create a company, a contact, or both, and a contact is associated with its
row's company as its primary company. Files are read as real exports come:
with or without a BOM, ``,`` or ``;`` delimited (sniffed from the header line),
CRLF or LF, and with ragged rows (missing trailing fields count as empty).

Rows are loaded as a HubSpot import would load them. A property value that
HubSpot would reject (an invalid email, say) is left out and reported in the
summary, while the rest of the row is loaded. A contact whose email already
exists updates that contact instead of creating a second one.
"""

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ApiError
from .store import IMPORT
from .validation import PropertyErrors, normalise_properties

_logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
PRIMARY_CONTACT_TO_COMPANY = 1


@dataclass(frozen=True)
class CsvMapping:
    """Column mapping of one kind of export file."""

    name: str
    company_columns: dict = field(default_factory=dict)
    contact_columns: dict = field(default_factory=dict)
    # Column whose value identifies a company: rows with the same value share
    # one company, also across files loaded with the same mapping.
    company_key: str | None = None
    # Column with a person's full name, split into firstname and lastname.
    contact_full_name: str | None = None
    # Cell values that mean "no value" in this export.
    null_values: tuple = ()


MAPPINGS = {
    mapping.name: mapping
    for mapping in (
        CsvMapping(
            "uk_companies_house",
            company_columns={
                "name": "Company Name",
                "address": "Address 1",
                "address2": "Address 2",
                "zip": "Postal Code",
                "city": "City",
                "state": "State/Province",
                "country": "Country",
                "company_number": "Company Registration Number",
                "industry": "Business Category Code 1 - Description",
                "founded_year": "Founding Year",
                "numberofemployees": "Employees Total",
            },
            company_key="ID",
        ),
        CsvMapping(
            "northwind_customers",
            company_columns={
                "name": "companyName",
                "address": "address",
                "city": "city",
                "state": "region",
                "zip": "postalCode",
                "country": "country",
                "phone": "phone",
            },
            contact_columns={
                "jobtitle": "contactTitle",
                "phone": "phone",
                "fax": "fax",
                "company": "companyName",
                "address": "address",
                "city": "city",
                "state": "region",
                "zip": "postalCode",
                "country": "country",
            },
            company_key="customerID",
            contact_full_name="contactName",
            null_values=("NULL",),
        ),
        CsvMapping(
            "salesforce_accounts_contacts",
            company_columns={
                "name": "Account: Account Name",
                "phone": "Account: Phone",
            },
            contact_columns={
                "firstname": "Contact: First Name",
                "lastname": "Contact: Last Name",
                "jobtitle": "Contact: Title",
                "phone": "Contact: Phone",
                "email": "Contact: Email",
                "company": "Account: Account Name",
            },
            company_key="Account: Account Name",
        ),
        # The demo files shipped in crm_sandbox/data: demo_companies.csv, then
        # demo_contacts.csv, whose "Company Ref" points at a company row.
        CsvMapping(
            "sandbox_demo",
            company_columns={
                "name": "Company Name",
                "domain": "Domain",
                "phone": "Phone",
                "address": "Address Line 1",
                "address2": "Address Line 2",
                "city": "Town",
                "zip": "Postcode",
                "country": "Country",
                "industry": "Industry",
                "company_number": "Company Number",
                "vat_number": "VAT Number",
            },
            contact_columns={
                "firstname": "First Name",
                "lastname": "Last Name",
                "email": "Email",
                "phone": "Contact Phone",
                "mobilephone": "Mobile",
                "jobtitle": "Job Title",
                "address": "Contact Address",
                "city": "Contact Town",
                "zip": "Contact Postcode",
                "country": "Contact Country",
            },
            company_key="Company Ref",
        ),
    )
}

DEMO_FILES = (
    (DATA_DIR / "demo_companies.csv", "sandbox_demo"),
    (DATA_DIR / "demo_contacts.csv", "sandbox_demo"),
)


def read_rows(path):
    """Return (header, rows as dicts) of a CSV export.

    Removes a UTF-8 BOM, sniffs ``;``, ``,`` or tab from the header line and
    pads short rows with empty strings. Surrounding spaces are stripped.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        text = handle.read()
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    # Read from the whole text, not from split lines: a quoted cell may
    # contain a line break.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip() for name in next(reader, [])]
    rows = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        rows.append({name: cells[index].strip() for index, name in enumerate(header)})
    return header, rows


def load_csv(store, path, mapping_name, emit_events=False):
    """Load one CSV file with a named mapping and return a summary dict.

    With ``emit_events`` the new records produce webhook events with change
    source IMPORT; by default a load is treated as data that already existed.
    Raises ValueError for an unknown mapping or a file without the mapping's
    columns.
    """
    mapping = MAPPINGS.get(mapping_name)
    if mapping is None:
        raise ValueError(
            f"Unknown CSV mapping {mapping_name!r}; "
            f"known: {', '.join(sorted(MAPPINGS))}."
        )
    header, rows = read_rows(path)
    _check_columns(mapping, header, path)

    loader = _Loader(store, mapping, emit_events)
    with store.lock:
        for number, row in enumerate(rows, start=2):
            loader.load_row(number, row)
    summary = loader.summary(Path(path).name, len(rows))
    _logger.info(
        "loaded %s with mapping %s: %d companies, %d contacts created, "
        "%d values rejected",
        Path(path).name,
        mapping_name,
        summary["companiesCreated"],
        summary["contactsCreated"],
        len(summary["rejected"]),
    )
    return summary


def _check_columns(mapping, header, path):
    mapped = set(mapping.company_columns.values()) | set(
        mapping.contact_columns.values()
    )
    if mapping.contact_full_name:
        mapped.add(mapping.contact_full_name)
    if mapping.company_key:
        mapped.add(mapping.company_key)
    if not mapped & set(header):
        raise ValueError(
            f"{Path(path).name} has none of the columns of mapping {mapping.name!r}: "
            f"is it the right mapping?"
        )


class _Loader:
    """Loads the rows of one file; keeps counts and rejected values."""

    def __init__(self, store, mapping, emit_events):
        self.store = store
        self.mapping = mapping
        self.emit_events = emit_events
        self.companies_created = 0
        self.contacts_created = 0
        self.contacts_updated = 0
        self.associations = 0
        self.rejected = []

    def load_row(self, number, row):
        company_id = self._company_for(number, row)
        contact_id = self._contact_for(number, row)
        if company_id and contact_id:
            self.store.associate(
                "contacts",
                contact_id,
                "companies",
                company_id,
                [PRIMARY_CONTACT_TO_COMPANY],
                IMPORT,
                self.emit_events,
            )
            self.associations += 1

    def _value(self, row, column):
        value = row.get(column, "")
        return "" if value in self.mapping.null_values else value

    def _mapped(self, row, columns):
        values = {prop: self._value(row, column) for prop, column in columns.items()}
        return {prop: value for prop, value in values.items() if value}

    def _valid(self, number, object_type, values):
        """Return the values HubSpot would accept; report the others."""
        accepted = {}
        for name, value in values.items():
            try:
                accepted.update(
                    normalise_properties(
                        self.store.object_type(object_type), {name: value}
                    )
                )
            except PropertyErrors as errors:
                for error in errors.errors:
                    self.rejected.append(
                        {
                            "row": number,
                            "objectType": object_type,
                            "property": name,
                            "value": value,
                            "error": error.code,
                        }
                    )
        return accepted

    def _company_for(self, number, row):
        key = (
            self._value(row, self.mapping.company_key)
            if self.mapping.company_key
            else ""
        )
        index_key = (self.mapping.name, key.casefold()) if key else None
        if index_key in self.store.import_index:
            return self.store.import_index[index_key]

        values = self._valid(
            number, "companies", self._mapped(row, self.mapping.company_columns)
        )
        if not values.get("name"):
            return None
        snapshot = self.store.create(
            "companies", values, source=IMPORT, emit_events=self.emit_events
        )
        self.companies_created += 1
        if index_key:
            self.store.import_index[index_key] = snapshot["id"]
        return snapshot["id"]

    def _contact_for(self, number, row):
        values = self._mapped(row, self.mapping.contact_columns)
        if self.mapping.contact_full_name:
            values.update(_split_name(self._value(row, self.mapping.contact_full_name)))
        if not any(values.get(name) for name in ("firstname", "lastname", "email")):
            return None
        values = self._valid(number, "contacts", values)
        if not any(values.get(name) for name in ("firstname", "lastname", "email")):
            # Every value that identified the person was rejected: skip the row.
            return None

        existing = (
            self.store.find("contacts", values["email"], id_property="email")
            if values.get("email")
            else None
        )
        try:
            if existing is not None:
                self.store.update(
                    "contacts",
                    existing.id,
                    values,
                    IMPORT,
                    emit_events=self.emit_events,
                )
                self.contacts_updated += 1
                return existing.id
            snapshot = self.store.create(
                "contacts", values, source=IMPORT, emit_events=self.emit_events
            )
        except ApiError as error:
            self.rejected.append(
                {
                    "row": number,
                    "objectType": "contacts",
                    "property": None,
                    "value": None,
                    "error": error.message,
                }
            )
            return None
        self.contacts_created += 1
        return snapshot["id"]

    def summary(self, file_name, row_count):
        return {
            "file": file_name,
            "mapping": self.mapping.name,
            "rows": row_count,
            "companiesCreated": self.companies_created,
            "contactsCreated": self.contacts_created,
            "contactsUpdated": self.contacts_updated,
            "associations": self.associations,
            "rejected": self.rejected,
        }


def _split_name(full_name):
    """Split "Maria Anders" into firstname "Maria" and lastname "Anders"."""
    parts = full_name.split()
    if not parts:
        return {}
    names = {"firstname": parts[0]}
    if len(parts) > 1:
        names["lastname"] = " ".join(parts[1:])
    return names
