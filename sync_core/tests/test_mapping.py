import datetime
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_core import mapping
from sync_core.errors import InvalidValueError
from sync_core.mapping import Decision, FieldRule

COMPANY_RULES = [
    FieldRule("name", "name", "odoo", "both", "text", "company"),
    FieldRule("vat", "vat_number", "odoo", "both", "vat", "company"),
    FieldRule(
        "company_registry",
        "company_number",
        "odoo",
        "both",
        "company_number",
        "company",
    ),
    FieldRule("phone", "phone", "both", "both", "phone", "company"),
    FieldRule("website", "domain", "both", "both", "domain", "company"),
    FieldRule("country_id", "country", "odoo", "both", "country", "company"),
    FieldRule("comment", "notes", "crm", "to_odoo", "text", "company"),
]

CONTACT_RULES = [
    FieldRule(
        "name", "firstname", "both", "both", "person_name", "contact", "lastname"
    ),
    FieldRule("email", "email", "both", "both", "email", "contact"),
    FieldRule("phone", "phone", "both", "both", "phone", "contact"),
    FieldRule("function", "jobtitle", "crm", "both", "text", "contact"),
    FieldRule(
        "parent_id", "associations.company", "both", "both", "parent_company", "contact"
    ),
]


# --------------------------------------------------------------------------
# FieldRule
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "direction", "transform"),
    [
        ("nobody", "both", "text"),
        ("odoo", "sideways", "text"),
        ("odoo", "both", "upper"),
    ],
)
def test_field_rule_rejects_unknown_choice(owner, direction, transform):
    with pytest.raises(ValueError):
        FieldRule("name", "name", owner, direction, transform)


@pytest.mark.parametrize(
    ("owner", "direction"), [("odoo", "to_odoo"), ("crm", "to_crm")]
)
def test_field_rule_rejects_owner_that_cannot_flow(owner, direction):
    with pytest.raises(ValueError) as caught:
        FieldRule("name", "name", owner, direction, "text")
    assert "cannot win" in str(caught.value)


def test_field_rule_accepts_odoo_model_directions():
    assert FieldRule("name", "name", "odoo", "export").direction == "to_crm"
    assert FieldRule("name", "name", "crm", "import").direction == "to_odoo"


def test_field_rule_person_name_needs_last_name():
    with pytest.raises(ValueError):
        FieldRule("name", "firstname", "both", "both", "person_name")


# --------------------------------------------------------------------------
# to_crm
# --------------------------------------------------------------------------


def test_to_crm_sends_only_allow_listed_fields():
    odoo_values = {
        "name": "Acme  Ltd",
        "phone": "020 7946 0958",
        "comment": "Private note",
        "x_date_of_birth": "1980-01-01",
        "bank_account": "12345678",
    }
    result = mapping.to_crm(odoo_values, COMPANY_RULES, {"object_type": "company"})
    assert result.values == {"name": "Acme Ltd", "phone": "+442079460958"}
    assert result.errors == []


def test_to_crm_skips_fields_not_given():
    result = mapping.to_crm({"name": "Acme"}, COMPANY_RULES)
    assert result.values == {"name": "Acme"}


def test_to_crm_empty_value_clears_property():
    result = mapping.to_crm({"phone": False, "website": None}, COMPANY_RULES)
    assert result.values == {"phone": "", "domain": ""}


def test_to_crm_collects_every_field_error():
    odoo_values = {
        "name": "Acme",
        "phone": "(171) 555-7788",
        "vat": "GB12",
        "website": "https://www.acme.example/",
    }
    context = {"record_ref": "odoo:42", "record_type": "Company"}
    result = mapping.to_crm(odoo_values, COMPANY_RULES, context)
    assert result.values == {"name": "Acme", "domain": "acme.example"}
    assert [error.field for error in result.errors] == ["vat", "phone"]
    assert all(isinstance(error, InvalidValueError) for error in result.errors)
    message = str(result.errors[1])
    assert message.startswith("Company 'odoo:42' field 'phone': '(171) 555-7788'")


def test_to_crm_phone_region_from_record_country():
    odoo_values = {"country_id": (57, "Germany"), "phone": "030-0074321"}
    result = mapping.to_crm(odoo_values, COMPANY_RULES)
    assert result.values == {"country": "DE", "phone": "+49300074321"}


def test_to_crm_phone_region_from_context():
    result = mapping.to_crm(
        {"phone": "030-0074321"}, COMPANY_RULES, {"country_code": "DE"}
    )
    assert result.values == {"phone": "+49300074321"}


def test_to_crm_skips_import_only_rules():
    result = mapping.to_crm({"comment": "note"}, COMPANY_RULES)
    assert result.values == {}


def test_to_crm_filters_object_type():
    odoo_values = {"name": "Maria Anders", "email": "Maria@Example.com"}
    result = mapping.to_crm(
        odoo_values, COMPANY_RULES + CONTACT_RULES, {"object_type": "contact"}
    )
    assert result.values == {
        "firstname": "Maria",
        "lastname": "Anders",
        "email": "maria@example.com",
    }


def test_to_crm_skips_association_rules():
    result = mapping.to_crm({"parent_id": (7, "Acme")}, CONTACT_RULES)
    assert result.values == {}
    assert result.errors == []


def test_to_crm_keeps_non_ascii_text():
    result = mapping.to_crm({"name": "Königlich Essen"}, COMPANY_RULES)
    assert result.values == {"name": "Königlich Essen"}


# --------------------------------------------------------------------------
# to_odoo
# --------------------------------------------------------------------------


def test_to_odoo_maps_and_normalises():
    properties = {
        "name": "Alfreds Futterkiste",
        "country": "Germany",
        "phone": "030-0074321",
        "domain": "WWW.Alfreds.example",
        "notes": "NULL",
        "hs_object_id": "501",
    }
    result = mapping.to_odoo(properties, COMPANY_RULES)
    assert result.values == {
        "name": "Alfreds Futterkiste",
        "country_id": "DE",
        "phone": "+49300074321",
        "website": "alfreds.example",
        "comment": False,
    }
    assert result.errors == []


def test_to_odoo_errors_name_crm_property():
    context = {"record_ref": "crm:123", "record_type": "Contact"}
    result = mapping.to_odoo({"email": "bob@@x"}, CONTACT_RULES, context)
    assert result.values == {}
    assert str(result.errors[0]) == (
        "Contact 'crm:123' field 'email': 'bob@@x' is not a valid email address."
    )


def test_to_odoo_joins_person_name():
    result = mapping.to_odoo(
        {"firstname": "Mary Ann", "lastname": "Smith"}, CONTACT_RULES
    )
    assert result.values == {"name": "Mary Ann Smith"}
    only_first = mapping.to_odoo({"firstname": "Cher"}, CONTACT_RULES)
    assert only_first.values == {"name": "Cher"}


def test_split_person_name_round_trips():
    for name in ["Maria Anders", "Mary Ann Smith", "Cher", "Ana de la Cruz"]:
        first_name, last_name = mapping.split_person_name(name)
        assert " ".join(part for part in (first_name, last_name) if part) == name


def test_to_odoo_every_northwind_customer(real_csv):
    rules = [
        FieldRule("name", "companyName", "odoo", "both", "text"),
        FieldRule("city", "city", "odoo", "both", "text"),
        FieldRule("state_id", "region", "odoo", "both", "text"),
        FieldRule("country_id", "country", "odoo", "both", "country"),
        FieldRule("phone", "phone", "both", "both", "phone"),
        FieldRule("x_fax", "fax", "both", "both", "phone"),
    ]
    for row in real_csv("northwind_customers.csv"):
        context = {"record_ref": row["customerID"], "record_type": "Company"}
        result = mapping.to_odoo(row, rules, context)
        assert result.values["name"] == " ".join(row["companyName"].split())
        assert len(result.values["country_id"]) == 2
        if row["region"] == "NULL":
            assert result.values["state_id"] is False
        for error in result.errors:
            assert error.field in ("phone", "fax")
            assert str(error).startswith(f"Company '{row['customerID']}' field")
        failed = {error.field for error in result.errors}
        assert ("phone" in failed) != ("phone" in result.values)
        assert ("fax" in failed) != ("x_fax" in result.values)


# --------------------------------------------------------------------------
# fingerprint
# --------------------------------------------------------------------------


def test_fingerprint_empty_values_equal():
    assert mapping.fingerprint(None) == mapping.EMPTY_FINGERPRINT
    assert mapping.fingerprint("") == mapping.EMPTY_FINGERPRINT
    assert mapping.fingerprint(False) == mapping.EMPTY_FINGERPRINT


def test_fingerprint_is_sha256_of_json():
    assert mapping.fingerprint("abc") == hashlib.sha256(b'"abc"').hexdigest()
    assert mapping.fingerprint("Rück") == hashlib.sha256('"Rück"'.encode()).hexdigest()


def test_fingerprint_stable_for_dict_order():
    assert mapping.fingerprint({"a": 1, "b": 2}) == mapping.fingerprint(
        {"b": 2, "a": 1}
    )


def test_fingerprint_distinguishes_values():
    assert mapping.fingerprint("0") != mapping.fingerprint(0)
    assert mapping.fingerprint(0) != mapping.EMPTY_FINGERPRINT
    assert mapping.fingerprint("a") != mapping.fingerprint("b")


# --------------------------------------------------------------------------
# decide
# --------------------------------------------------------------------------

TWO_WAY_SHARED = FieldRule("email", "email", "both", "both", "text")
TWO_WAY_ODOO = FieldRule("name", "name", "odoo", "both", "text")
TWO_WAY_CRM = FieldRule("function", "jobtitle", "crm", "both", "text")
ODOO_TO_CRM = FieldRule("vat", "vat_number", "odoo", "to_crm", "text")
CRM_TO_ODOO = FieldRule("comment", "notes", "crm", "to_odoo", "text")
LAST = mapping.fingerprint("old")


@pytest.mark.parametrize(
    ("rule", "odoo_value", "crm_value", "last", "action", "value"),
    [
        # Neither side changed.
        (TWO_WAY_SHARED, "old", "old", LAST, "none", None),
        # One side changed.
        (TWO_WAY_SHARED, "new", "old", LAST, "push", "new"),
        (TWO_WAY_SHARED, "old", "new", LAST, "pull", "new"),
        (TWO_WAY_SHARED, None, "old", LAST, "push", None),
        (ODOO_TO_CRM, "old", "new", LAST, "none", None),
        (CRM_TO_ODOO, "new", "old", LAST, "none", None),
        (ODOO_TO_CRM, "new", "old", LAST, "push", "new"),
        (CRM_TO_ODOO, "old", "new", LAST, "pull", "new"),
        # Both changed.
        (TWO_WAY_SHARED, "same", "same", LAST, "none", None),
        (TWO_WAY_SHARED, "mine", "theirs", LAST, "conflict", None),
        (TWO_WAY_ODOO, "mine", "theirs", LAST, "push", "mine"),
        (TWO_WAY_CRM, "mine", "theirs", LAST, "pull", "theirs"),
        (ODOO_TO_CRM, "mine", "theirs", LAST, "push", "mine"),
        # First sync.
        (TWO_WAY_SHARED, "same", "same", None, "none", None),
        (TWO_WAY_SHARED, "value", None, None, "push", "value"),
        (TWO_WAY_SHARED, None, "value", None, "pull", "value"),
        (CRM_TO_ODOO, "value", None, None, "none", None),
        (ODOO_TO_CRM, None, "value", None, "none", None),
        (TWO_WAY_SHARED, "mine", "theirs", None, "conflict", None),
        (TWO_WAY_ODOO, "mine", "theirs", None, "push", "mine"),
        (TWO_WAY_CRM, "mine", "theirs", None, "pull", "theirs"),
    ],
)
def test_decide_table(rule, odoo_value, crm_value, last, action, value):
    decision = mapping.decide(rule, odoo_value, crm_value, last)
    assert isinstance(decision, Decision)
    assert decision.action == action, decision.reason
    assert decision.value == value
    assert decision.reason


def test_decide_equal_after_change_records_fingerprint():
    decision = mapping.decide(TWO_WAY_SHARED, "same", "same", LAST)
    assert decision.fingerprint == mapping.fingerprint("same")


def test_decide_push_records_pushed_fingerprint():
    decision = mapping.decide(TWO_WAY_SHARED, "new", "old", LAST)
    assert decision.fingerprint == mapping.fingerprint("new")


def test_decide_ignored_change_keeps_fingerprint():
    decision = mapping.decide(ODOO_TO_CRM, "old", "new", LAST)
    assert decision.fingerprint is None
    assert "does not send values to Odoo" in decision.reason


def test_decide_conflict_reason_names_newer_side():
    odoo_time = datetime.datetime(2026, 3, 1, 10, 0, tzinfo=datetime.UTC)
    crm_time = datetime.datetime(2026, 3, 1, 11, 0, tzinfo=datetime.UTC)
    decision = mapping.decide(
        TWO_WAY_SHARED, "mine", "theirs", LAST, odoo_time, crm_time
    )
    assert decision.action == "conflict"
    assert decision.fingerprint is None
    assert "the CRM changed last" in decision.reason


def test_decide_compares_normalised_phones():
    rule = FieldRule("phone", "phone", "both", "both", "phone")
    last = mapping.fingerprint("+442079460958")
    decision = mapping.decide(rule, "+44 20 7946 0958", "(020) 7946-0958", last)
    assert decision.action == "none"


def test_decide_invalid_value_still_flows():
    rule = FieldRule("phone", "phone", "both", "both", "phone")
    last = mapping.fingerprint("+442079460958")
    decision = mapping.decide(rule, "+442079460958", "not a phone", last)
    assert decision.action == "pull"
    assert decision.value == "not a phone"


def test_decide_person_name_against_joined_crm_value():
    rule = CONTACT_RULES[0]
    crm_name = mapping.crm_value(rule, {"firstname": "Maria", "lastname": "Anders"})
    decision = mapping.decide(rule, "Maria  Anders", crm_name, None)
    assert decision.action == "none"


VALUES = st.sampled_from([None, "a", "b", "c"])
RULES = st.sampled_from(
    [TWO_WAY_SHARED, TWO_WAY_ODOO, TWO_WAY_CRM, ODOO_TO_CRM, CRM_TO_ODOO]
)


# "first" stands for a field that was never synced, so it has no fingerprint.
LAST_VALUES = st.sampled_from(["first", None, "a", "b", "c"])


@given(rule=RULES, last=LAST_VALUES, odoo_value=VALUES, crm_value=VALUES)
def test_decide_never_overwrites_unowned_change(rule, last, odoo_value, crm_value):
    last_print = None if last == "first" else mapping.fingerprint(last)
    decision = mapping.decide(rule, odoo_value, crm_value, last_print)
    odoo_changed = last_print is None or mapping.fingerprint(odoo_value) != last_print
    crm_changed = last_print is None or mapping.fingerprint(crm_value) != last_print

    if odoo_value == crm_value:
        assert decision.action == "none"
    if decision.action == "push":
        assert rule.sends_to_crm()
        assert decision.value == odoo_value
        assert odoo_changed
        # Odoo's value replaces a CRM change only when Odoo owns the field,
        # or on a first sync where the CRM side is empty.
        if crm_changed and last_print is not None:
            assert rule.owner == "odoo"
        if last_print is None and crm_value is not None:
            assert rule.owner == "odoo"
    if decision.action == "pull":
        assert rule.sends_to_odoo()
        assert decision.value == crm_value
        assert crm_changed
        if odoo_changed and last_print is not None:
            assert rule.owner == "crm"
        if last_print is None and odoo_value is not None:
            assert rule.owner == "crm"
    if decision.action == "conflict":
        assert rule.owner == "both"
        assert odoo_value != crm_value
    if decision.action in ("push", "pull"):
        assert decision.fingerprint == mapping.fingerprint(decision.value)
