import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.provisional import domains
from stdnum.gb import vat as stdnum_gb_vat

from sync_core import normalise
from sync_core.errors import InvalidValueError

EMPTY_VALUES = [None, False, "", "   ", "NULL", "null", "N/A", "#N/A"]


# --------------------------------------------------------------------------
# clean_text
# --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", EMPTY_VALUES)
def test_clean_text_empty_is_none(raw):
    assert normalise.clean_text(raw) is None


def test_clean_text_collapses_spaces():
    assert normalise.clean_text("  Mataderos  2312 ") == "Mataderos 2312"
    assert normalise.clean_text("Wolski \t Zajazd") == "Wolski Zajazd"


def test_clean_text_keeps_line_breaks():
    assert normalise.clean_text("12 High St \r\n  Flat 2 ") == "12 High St\nFlat 2"


def test_clean_text_keeps_non_ascii():
    assert normalise.clean_text("Berglunds snabbköp") == "Berglunds snabbköp"
    assert normalise.clean_text("Hannover Rück SE") == "Hannover Rück SE"


def test_clean_text_null_inside_text_kept():
    assert normalise.clean_text("Null Island Ltd") == "Null Island Ltd"


@given(st.text())
def test_clean_text_idempotent(raw):
    once = normalise.clean_text(raw)
    assert normalise.clean_text(once) == once


# --------------------------------------------------------------------------
# email
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Bob@Example.COM ", "bob@example.com"),
        ("mailto:sales@example.co.uk", "sales@example.co.uk"),
        ("o'brien+tag@sub.example.io", "o'brien+tag@sub.example.io"),
        ("anna@bücher.de", "anna@bücher.de"),
    ],
)
def test_email_valid(raw, expected):
    assert normalise.email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["bob@@x.com", "bob@x", "bob", "a b@x.com", "a..b@x.com", ".a@x.com",
     "a@x..com", "a@-x.com", "@x.com", "bob@x.c0m"],
)
def test_email_invalid_raises(raw):
    with pytest.raises(InvalidValueError) as caught:
        normalise.email(raw)
    assert caught.value.value == raw
    assert "is not a valid email address" in str(caught.value)


@pytest.mark.parametrize("raw", EMPTY_VALUES)
def test_email_empty_is_none(raw):
    assert normalise.email(raw) is None


@given(st.emails())
def test_email_generated_addresses_idempotent(address):
    try:
        once = normalise.email(address)
    except InvalidValueError:
        # Hypothesis also generates RFC 5321 forms (quoted local parts) that
        # the stricter pattern rejects; a rejection must name the value.
        return
    assert once == once.strip().lower()
    assert normalise.email(once) == once


# --------------------------------------------------------------------------
# phone_e164
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("07700 900123", "GB", "+447700900123"),
        ("(020) 7946-0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", None, "+442079460958"),
        ("447700900123", "GB", "+447700900123"),
        ("44 20 7946 0958", "GB", "+442079460958"),
        ("030-0074321", "Germany", "+49300074321"),
        ("(503) 555-7555", "USA", "+15035557555"),
        ("+1 415 555 0100", "GB", "+14155550100"),
        ("01632 960123", "United Kingdom", "+441632960123"),
    ],
)
def test_phone_e164_formats(raw, region, expected):
    assert normalise.phone_e164(raw, region) == expected


def test_phone_bare_44_with_other_region_is_national():
    # Digits that start with 44 are a French national number when the
    # partner is in France, never silently a UK one.
    with pytest.raises(InvalidValueError):
        normalise.phone_e164("447700900123", "FR")


def test_phone_extension_kept_in_rfc3966_form():
    assert normalise.phone_e164("020 7946 0958 ext. 123") == "+442079460958;ext=123"
    assert normalise.phone_e164("020 7946 0958 x123") == "+442079460958;ext=123"


def test_phone_extension_dropped_when_asked():
    result = normalise.phone_e164("020 7946 0958 ext. 123", keep_extension=False)
    assert result == "+442079460958"


def test_phone_extension_form_idempotent():
    assert normalise.phone_e164("+442079460958;ext=123") == "+442079460958;ext=123"


@pytest.mark.parametrize("raw", ["abc", "0", "(171) 555-7788", "12", "+44 20 7946"])
def test_phone_invalid_raises(raw):
    with pytest.raises(InvalidValueError) as caught:
        normalise.phone_e164(raw, "GB")
    assert caught.value.value == raw


def test_phone_invalid_message_gives_example():
    with pytest.raises(InvalidValueError) as caught:
        normalise.phone_e164("88.60.15.31", "France")
    message = str(caught.value)
    assert "for country FR" in message
    assert "+33" in message


def test_phone_unknown_country_needs_international_format():
    assert normalise.phone_e164("+44 20 7946 0958", "Narnia") == "+442079460958"
    with pytest.raises(InvalidValueError) as caught:
        normalise.phone_e164("020 7946 0958", "Narnia")
    assert "international format" in str(caught.value)


@pytest.mark.parametrize("raw", EMPTY_VALUES)
def test_phone_empty_is_none(raw):
    assert normalise.phone_e164(raw) is None


def test_phone_every_northwind_number(real_csv):
    rows = real_csv("northwind_customers.csv")
    valid = invalid = 0
    for row in rows:
        region = normalise.country_code(row["country"])
        for column in ("phone", "fax"):
            raw = row[column]
            try:
                result = normalise.phone_e164(raw, region)
            except InvalidValueError as error:
                invalid += 1
                assert error.value == raw
                assert "phone number" in str(error)
                continue
            if result is None:
                assert normalise.clean_text(raw) is None
                continue
            valid += 1
            number = phonenumbers.parse(result)
            assert phonenumbers.is_valid_number(number), (row["customerID"], raw)
            assert result.startswith("+")
            assert phonenumbers.region_code_for_number(number) == region, (
                row["customerID"], raw, result,
            )
    assert valid > 0
    assert invalid > 0


def test_phone_northwind_old_london_code_rejected(real_csv):
    rows = real_csv("northwind_customers.csv")
    london_phones = [
        row["phone"] for row in rows
        if row["country"] == "UK" and row["phone"].startswith("(171)")
    ]
    assert london_phones
    for raw in london_phones:
        # (171) was London's code until 2000; those numbers no longer exist.
        with pytest.raises(InvalidValueError):
            normalise.phone_e164(raw, "GB")


@given(st.text(alphabet="0123456789 +()-.", max_size=20))
def test_phone_result_idempotent(raw):
    try:
        once = normalise.phone_e164(raw)
    except InvalidValueError:
        return
    if once is not None:
        assert normalise.phone_e164(once) == once


# --------------------------------------------------------------------------
# country_code
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GB", "GB"), ("gb", "GB"), ("UK", "GB"), ("United Kingdom", "GB"),
        ("Great Britain", "GB"), ("England", "GB"), ("Scotland", "GB"),
        ("Wales", "GB"), ("Northern Ireland", "GB"), ("GBR", "GB"),
        ("USA", "US"), ("United States", "US"), ("U.S.A.", "US"),
        ("Germany", "DE"), ("deu", "DE"), ("Deutschland", "DE"),
        ("the Netherlands", "NL"), ("Holland", "NL"), ("Côte d'Ivoire", "CI"),
        ("EL", "GR"), ("Venezuela", "VE"), ("Ireland", "IE"),
    ],
)
def test_country_code_known(raw, expected):
    assert normalise.country_code(raw) == expected


@pytest.mark.parametrize("raw", ["Narnia", "XX", "ZZZ", "Europe"])
def test_country_code_unknown_raises(raw):
    with pytest.raises(InvalidValueError) as caught:
        normalise.country_code(raw)
    assert "is not a recognised country" in str(caught.value)


def test_country_code_every_northwind_country(real_csv):
    for row in real_csv("northwind_customers.csv"):
        code = normalise.country_code(row["country"])
        assert len(code) == 2, row["country"]


def test_country_code_london_country_column(real_csv):
    rows = real_csv("uk_london_companies_companydata_sample.csv", delimiter=";")
    assert {normalise.country_code(row["Country"]) for row in rows} == {"GB"}


# --------------------------------------------------------------------------
# vat
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("GB 726 1290 90", "GB", "GB726129090"),
        ("726129090", "GB", "GB726129090"),
        ("gb-726.129.090", None, "GB726129090"),
        ("GBGD001", "GB", "GBGD001"),
        ("HA500", "GB", "GBHA500"),
        ("XI 726 1290 90", "GB", "XI726129090"),
        ("DE 136 695 976", "GB", "DE136695976"),
        ("136695976", "Germany", "DE136695976"),
        ("FR 40 303 265 045", "FR", "FR40303265045"),
        ("12-3456789", "US", "123456789"),
    ],
)
def test_vat_normal_forms(raw, country, expected):
    assert normalise.vat(raw, country) == expected


@pytest.mark.parametrize("raw", ["123", "GB12345678901234", "GD600", "12345678A"])
def test_vat_bad_format_raises(raw):
    with pytest.raises(InvalidValueError) as caught:
        normalise.vat(raw)
    assert "VAT number" in str(caught.value)


def test_vat_punctuation_raises():
    with pytest.raises(InvalidValueError):
        normalise.vat("GB#726129090")


def test_vat_checksum_failure_only_strict():
    assert normalise.vat("553557881") == "GB553557881"
    with pytest.raises(InvalidValueError) as caught:
        normalise.vat("553557881", strict=True)
    assert "check-digit" in str(caught.value)


def test_vat_hmrc_sandbox_vrns(real_text):
    vrns = real_text("hmrc_sandbox_vat_vrns.csv").strip().split(",")
    assert len(vrns) == 40
    strict_passes = []
    for vrn in vrns:
        # Every sandbox number keeps its leading zeros and gains the prefix.
        assert normalise.vat(vrn) == "GB" + vrn
        try:
            normalise.vat(vrn, strict=True)
        except InvalidValueError:
            assert not stdnum_gb_vat.is_valid(vrn)
        else:
            strict_passes.append(vrn)
    assert strict_passes == ["726129090"]


@pytest.mark.parametrize("raw", EMPTY_VALUES)
def test_vat_empty_is_none(raw):
    assert normalise.vat(raw) is None


# --------------------------------------------------------------------------
# company_number
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("00102498", "00102498"),
        (" fc 031145 ", "FC031145"),
        ("sc19230", "SC019230"),
        ("IP28038R", "IP28038R"),
        ("RS007686", "RS007686"),
        ("R123", "R0000123"),
        ("OC301540", "OC301540"),
    ],
)
def test_company_number_normal_forms(raw, expected):
    result = normalise.company_number(raw)
    assert result == expected
    assert normalise.is_companies_house_number(result)


def test_company_number_short_digits_unchanged():
    # A 6-digit value may be a charity number: padding it would name another
    # company, so it stays as it is and is not a Companies House number.
    assert normalise.company_number("210183") == "210183"
    assert not normalise.is_companies_house_number("210183")


def test_company_number_pad_digits_when_source_known():
    assert normalise.company_number("102498", pad_digits=True) == "00102498"


@pytest.mark.parametrize(
    "raw", ["XX123456", "123456789", "IP2803R", "OC-123456", "SC1234567", "ABC"]
)
def test_company_number_invalid_raises(raw):
    with pytest.raises(InvalidValueError) as caught:
        normalise.company_number(raw)
    assert "Companies House" in str(caught.value)


def test_company_number_london_file(real_csv):
    rows = real_csv("uk_london_companies_companydata_sample.csv", delimiter=";")
    companies_house = other = blank = 0
    for row in rows:
        raw = row["Company Registration Number"]
        result = normalise.company_number(raw)
        if not raw.strip():
            assert result is None
            blank += 1
            continue
        # The file contains every number in its full form, so normalising must
        # never change one: a changed number would be a wrong number.
        assert result == raw, (row["ID"], raw, result)
        if row["Company Registration Type Code"] == "00012":
            assert normalise.is_companies_house_number(result), raw
            companies_house += 1
        else:
            assert not normalise.is_companies_house_number(result), raw
            other += 1
    assert companies_house > 900
    assert other > 0
    assert blank > 0


@given(st.from_regex(r"\A(?:[A-Z]{2}\d{1,6}|\d{1,8}|R\d{1,7})\Z"))
def test_company_number_idempotent(raw):
    try:
        once = normalise.company_number(raw)
    except InvalidValueError:
        return
    assert normalise.company_number(once) == once


# --------------------------------------------------------------------------
# website_domain
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Example.co.uk:8080/path?q=1", "example.co.uk"),
        ("example.com", "example.com"),
        ("http://user:secret@shop.example.com/", "shop.example.com"),
        ("WWW.bücher.DE", "bücher.de"),
        ("xn--bcher-kva.de", "bücher.de"),
        ("example.com.", "example.com"),
    ],
)
def test_website_domain_forms(raw, expected):
    assert normalise.website_domain(raw) == expected


@pytest.mark.parametrize(
    "raw", ["localhost", "exa mple.com", "http://192.168.0.1/", "http://", "a_b.com"]
)
def test_website_domain_invalid_raises(raw):
    with pytest.raises(InvalidValueError):
        normalise.website_domain(raw)


@given(domains())
def test_website_domain_idempotent(domain):
    try:
        once = normalise.website_domain(domain)
    except InvalidValueError:
        return
    assert normalise.website_domain(once) == once
    assert normalise.website_domain("https://" + domain + "/about") == once


# --------------------------------------------------------------------------
# name_key
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Bp P.L.C.", "BP PLC"),
        ("Acme Limited", "ACME LTD."),
        ("Acme Public Limited Company", "Acme plc"),
        ("Smith & Jones LLP", "Smith and Jones L.L.P."),
        ("The British Council", "British Council"),
        ("Wolski  Zajazd", "Wolski Zajazd"),
        ("Cwmni Cyf", "Cwmni Limited"),
    ],
)
def test_name_key_equivalent_names(left, right):
    assert normalise.name_key(left) == normalise.name_key(right)


def test_name_key_keeps_accents():
    assert normalise.name_key("Hannover Rück SE") == "hannover rück se"
    assert normalise.name_key("Tradição") != normalise.name_key("Tradicao")


def test_name_key_different_names_differ():
    assert normalise.name_key("Acme Ltd") != normalise.name_key("Acme Holdings Ltd")


def test_name_key_london_case_variants(real_csv):
    rows = real_csv("uk_london_companies_companydata_sample.csv", delimiter=";")
    pairs = [
        (row["Company Name"], row["National Headquarter Company Name"])
        for row in rows
    ]
    pairs = [
        (name, headquarters_name)
        for name, headquarters_name in pairs
        if name != headquarters_name and name.casefold() == headquarters_name.casefold()
    ]
    assert len(pairs) > 100
    for name, headquarters_name in pairs:
        assert normalise.name_key(name) == normalise.name_key(headquarters_name)


@given(st.text())
def test_name_key_idempotent(raw):
    once = normalise.name_key(raw)
    assert normalise.name_key(once) == once
