import pytest

from sync_core import matching, normalise
from sync_core.matching import AMBIGUOUS, MATCHED, NONE


def company(record_id, name, **values):
    return {"id": record_id, "name": name, "is_company": True, **values}


def contact(record_id, name, **values):
    return {"id": record_id, "name": name, "is_company": False, **values}


# --------------------------------------------------------------------------
# Cascade order
# --------------------------------------------------------------------------


def test_match_binding_wins_over_vat():
    candidates = [
        company(1, "Acme Ltd", vat="GB726129090"),
        company(2, "Acme Trading Ltd", crm_id="501"),
    ]
    incoming = company(None, "Acme Ltd", crm_id="501", vat="GB726129090")
    result = matching.match(incoming, candidates)
    assert result.status == MATCHED
    assert result.record_ids == (2,)
    assert result.rule == "binding"


def test_match_binding_on_several_is_ambiguous():
    candidates = [company(1, "A", crm_id="501"), company(2, "B", crm_id=501)]
    result = matching.match(company(None, "A", crm_id="501"), candidates)
    assert result.status == AMBIGUOUS
    assert result.record_ids == (1, 2)
    assert result.rule == "binding"


def test_match_vat_normalises_stored_value():
    candidates = [company(7, "Acme", vat="gb 726 1290 90"), company(8, "Other")]
    result = matching.match(company(None, "Acme", vat="GB726129090"), candidates)
    assert result.status == MATCHED
    assert result.record_ids == (7,)
    assert result.rule == "vat"


def test_match_vat_without_prefix_in_odoo():
    candidates = [company(7, "Acme", vat="726129090", country_code="GB")]
    result = matching.match(company(None, "Acme", vat="GB726129090"), candidates)
    assert result.record_ids == (7,)


def test_match_several_vat_hits_stop_cascade():
    candidates = [
        company(3, "Acme North", vat="GB726129090", website="acme.example"),
        company(4, "Acme South", vat="GB 726129090"),
    ]
    incoming = company(None, "Acme", vat="GB726129090", website="acme.example")
    result = matching.match(incoming, candidates, match_website=True)
    # The website would single out partner 3, but a rule with several hits
    # decides: a person must choose.
    assert result.status == AMBIGUOUS
    assert result.record_ids == (3, 4)
    assert result.rule == "vat"
    assert "3, 4" in result.reason


def test_match_hit_linked_elsewhere_is_ambiguous():
    candidates = [company(9, "Acme", vat="GB726129090", crm_id="777")]
    result = matching.match(
        company(None, "Acme", crm_id="501", vat="GB726129090"), candidates
    )
    assert result.status == AMBIGUOUS
    assert result.record_ids == (9,)
    assert "777" in result.reason
    assert "duplicate" in result.reason


def test_match_company_number_normalised():
    candidates = [company(5, "Mitie Group PLC", company_registry="sc 19230")]
    result = matching.match(
        company(None, "Mitie", company_registry="SC019230"), candidates
    )
    assert result.status == MATCHED
    assert result.record_ids == (5,)
    assert result.rule == "company_registry"


def test_match_short_number_never_matches():
    # 210183 may be a charity number: equal text proves nothing about the
    # Companies House register, so the rule is skipped.
    candidates = [company(5, "Wellcome Trust", company_registry="210183")]
    result = matching.match(
        company(None, "Other", company_registry="210183"), candidates
    )
    assert result.status == NONE


def test_match_email_for_contacts():
    candidates = [contact(11, "Maria Anders", email="maria@example.com")]
    result = matching.match(
        contact(None, "M. Anders", email=" Maria@Example.COM"), candidates
    )
    assert result.status == MATCHED
    assert result.rule == "email"


def test_match_email_not_for_companies():
    candidates = [company(11, "Acme", email="info@acme.example")]
    result = matching.match(
        company(None, "Zenith", email="info@acme.example"), candidates
    )
    assert result.status == NONE


def test_match_website_only_when_enabled():
    candidates = [company(12, "Acme", website="https://www.acme.example/about")]
    incoming = company(None, "Acme Holdings", website="acme.example")
    assert matching.match(incoming, candidates).status == NONE
    result = matching.match(incoming, candidates, match_website=True)
    assert result.status == MATCHED
    assert result.rule == "website"


def test_match_phone_needs_close_name():
    candidates = [company(13, "Smyth Ltd", phone="+44 20 7946 0958")]
    close = matching.match(
        company(None, "Smith Limited", phone="020 7946 0958"), candidates
    )
    assert close.status == MATCHED
    assert close.rule == "phone_name"
    other = matching.match(
        company(None, "Zenith Ltd", phone="020 7946 0958"), candidates
    )
    assert other.status == NONE


def test_match_phone_against_mobile():
    candidates = [contact(14, "Maria Anders", mobile="07700 900123")]
    incoming = contact(None, "Anders Maria", phone="+447700900123")
    result = matching.match(incoming, candidates)
    assert result.status == MATCHED
    assert result.record_ids == (14,)


def test_match_phone_ignores_extension():
    candidates = [company(15, "Acme Ltd", phone="020 7946 0958 ext. 12")]
    result = matching.match(
        company(None, "Acme Ltd", phone="+442079460958"), candidates
    )
    assert result.status == MATCHED


def test_match_ignores_other_kind():
    candidates = [contact(16, "Acme Ltd", vat="GB726129090")]
    result = matching.match(company(None, "Acme Ltd", vat="GB726129090"), candidates)
    assert result.status == NONE


def test_match_invalid_stored_values_ignored():
    candidates = [
        company(17, "Acme", vat="not a vat", phone="12", email="x@@y"),
        company(18, "Acme", vat="GB726129090"),
    ]
    result = matching.match(company(None, "Acme", vat="GB726129090"), candidates)
    assert result.record_ids == (18,)


def test_match_nothing_to_compare():
    result = matching.match(company(None, "Acme"), [company(1, "Acme")])
    assert result.status == NONE
    assert result.record_ids == ()
    assert result.rule is None


# --------------------------------------------------------------------------
# names_close and lookup_keys
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "close"),
    [
        ("Wolski  Zajazd", "Wolski Zajazd", True),
        ("Alfred's Futterkiste", "Alfreds Futterkiste", True),
        ("Maria Anders", "Anders Maria", True),
        ("Smith Ltd", "Smyth Ltd", True),
        ("ABC Ltd", "XYZ Ltd", False),
        ("Acme Ltd", "Acme Holdings Ltd", False),
        ("Acme", None, False),
    ],
)
def test_names_close(left, right, close):
    left_key = normalise.name_key(left)
    right_key = normalise.name_key(right)
    assert matching.names_close(left_key, right_key) is close


def test_lookup_keys_for_company():
    record = company(
        None,
        "Acme P.L.C.",
        crm_id=501,
        vat="GB 726 1290 90",
        company_registry="sc19230",
        email="info@acme.example",
        website="www.acme.example",
        phone="020 7946 0958",
        mobile="07700 900123",
    )
    keys = matching.lookup_keys(record, match_website=True)
    assert keys.crm_id == "501"
    assert keys.name_key == "acme plc"
    assert keys.vats == ("GB726129090", "726129090")
    assert keys.company_registries == ("SC019230",)
    assert keys.emails == ()
    assert keys.website_domains == ("acme.example",)
    assert keys.phones == ("+442079460958", "+447700900123")


def test_lookup_keys_for_contact():
    keys = matching.lookup_keys(contact(None, "Maria", email="Maria@Example.com"))
    assert keys.emails == ("maria@example.com",)
    assert keys.website_domains == ()
    assert keys.as_dict()["emails"] == ("maria@example.com",)


def test_lookup_keys_skip_guessed_number():
    keys = matching.lookup_keys(
        company(None, "Wellcome Trust", company_registry="210183")
    )
    assert keys.company_registries == ()


# --------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------


def test_match_london_companies_by_number(real_csv):
    rows = real_csv("uk_london_companies_companydata_sample.csv", delimiter=";")
    candidates = [
        company(
            row["ID"],
            row["Company Name"],
            company_registry=row["Company Registration Number"],
        )
        for row in rows
    ]
    by_number = {}
    for candidate in candidates:
        keys = matching.lookup_keys(candidate)
        for number in keys.company_registries:
            by_number.setdefault(number, []).append(candidate)

    for index, row in enumerate(rows):
        incoming = company(
            None,
            row["National Headquarter Company Name"],
            company_registry=row["Company Registration Number"],
        )
        # Fetch candidates the way the Odoo layer does, by lookup key, and
        # add the row's own partner and some neighbours as distractors.
        keys = matching.lookup_keys(incoming)
        fetched = [c for number in keys.company_registries for c in by_number[number]]
        fetched += candidates[max(index - 10, 0) : index + 10]
        result = matching.match(incoming, fetched)
        if row["Company Registration Type Code"] == "00012":
            assert result.status == MATCHED, row["ID"]
            assert result.record_ids == (row["ID"],)
            assert result.rule == "company_registry"
        else:
            # Blank and non-Companies House numbers must not match anything,
            # not even the partner with the same text.
            assert result.status == NONE, row["ID"]


def test_match_northwind_ship_names(real_csv):
    customers = {row["customerID"]: row for row in real_csv("northwind_customers.csv")}
    candidates = [
        company(
            customer_id,
            row["companyName"],
            phone=row["phone"],
            country_code=normalise.country_code(row["country"]),
        )
        for customer_id, row in customers.items()
    ]
    orders = real_csv("northwind_orders.csv")
    renamed = [
        o for o in orders if o["shipName"] != customers[o["customerID"]]["companyName"]
    ]
    assert renamed
    for order in renamed:
        customer = customers[order["customerID"]]
        region = normalise.country_code(customer["country"])
        incoming = company(
            None, order["shipName"], phone=customer["phone"], country_code=region
        )
        result = matching.match(incoming, candidates)
        try:
            phone = normalise.phone_e164(customer["phone"], region)
        except normalise.InvalidValueError:
            phone = None
        if phone is None:
            # No valid phone, so nothing can prove the identity.
            assert result.status == NONE, order["orderID"]
        else:
            assert result.status == MATCHED, order["orderID"]
            assert result.record_ids == (order["customerID"],)


def test_match_same_candidate_twice_is_one():
    partner = company(21, "Acme", vat="GB726129090")
    result = matching.match(
        company(None, "Acme", vat="GB726129090"), [partner, partner]
    )
    assert result.status == MATCHED
    assert result.record_ids == (21,)
