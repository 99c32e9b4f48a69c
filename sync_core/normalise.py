"""Normalise the values that the sync compares, matches on and writes.

Every function takes a raw value as Odoo or the CRM stores it and returns
its normal form. Empty input (None, False, '', whitespace, or a literal NULL
marker) returns None. A value that cannot be normalised raises
:class:`~.errors.InvalidValueError` with the value and the reason. The caller
adds the record and field with ``error.with_context(...)``.

The functions are idempotent: normalising a normal form returns it unchanged.
The property tests rely on that.
"""

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

import idna
import phonenumbers
from stdnum import get_cc_module
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from . import countries
from .errors import InvalidValueError

DEFAULT_REGION = "GB"

# Values that spreadsheet and database exports write for "no value". They are
# compared case-insensitively.
NULL_MARKERS = frozenset({"null", "n/a", "#n/a"})

_HORIZONTAL_SPACE_RE = re.compile(r"[^\S\n]+")


def clean_text(raw):
    """Trim text and collapse runs of spaces, or return None for empty text.

    Literal NULL markers (see NULL_MARKERS) count as empty. Line breaks are
    kept, without spaces around them, so multi-line fields such as street
    addresses survive.
    """
    if raw is None or raw is False:
        return None
    text = raw if isinstance(raw, str) else str(raw)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HORIZONTAL_SPACE_RE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n")).strip()
    if not text or text.casefold() in NULL_MARKERS:
        return None
    return text


# --------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------

# One "@", no spaces, no dot at either end of the local part, and a domain
# of at least two labels whose last label is alphabetic (or an IDNA "xn--"
# label). Unicode letters are allowed in the domain.
_EMAIL_RE = re.compile(
    r"""
    ^(?!\.)[^@\s"(),:;<>\[\\\]]+(?<!\.)
    @
    (?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+
    (?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})$
    """,
    re.VERBOSE,
)


def email(raw):
    """Return the e-mail address trimmed and in lower case.

    A leading ``mailto:`` is removed. Raises InvalidValueError unless the
    address has one ``@``, no spaces and a domain that contains a dot.
    """
    text = clean_text(raw)
    if text is None:
        return None
    address = text.lower()
    if address.startswith("mailto:"):
        address = address[len("mailto:"):]
    # Two dots in a row are invalid in both parts. The test sits here because
    # a look-ahead for it in the pattern would be slow.
    if ".." in address or not _EMAIL_RE.match(address):
        raise InvalidValueError("is not a valid email address", value=raw)
    return address


# --------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------

# Ofcom reserves these UK ranges for TV and radio drama, so they never reach a
# real subscriber. libphonenumber marks them invalid because they are never
# allocated, but test and demo data use them, so they are accepted here.
# The entries are national significant numbers without the trunk 0:
# 07700 900000-900999 (mobile) and 01632 960000-960999 (fictional area code).
_OFCOM_DRAMA_PREFIXES = ("7700900", "1632960")


def phone_e164(raw, region=DEFAULT_REGION, *, keep_extension=True):
    """Return the phone number in E.164 form, such as ``+442079460958``.

    ``region`` is the partner's country (alpha-2 code or English name), used
    for numbers written without a country code. Empty means GB.

    A bare leading ``44`` (``447700900123``) is read as the UK country code
    only when the region is GB and the digits without it form a valid UK
    number, which is libphonenumber's rule. With any other region such digits
    are read as a national number of that region.

    An extension (``ext. 123``, ``x123``, ``#123``) is kept in the RFC 3966
    form ``+442079460958;ext=123`` so that no digits are lost. Pass
    ``keep_extension=False`` for a pure E.164 key, as matching does.

    Raises InvalidValueError for text that is not a phone number and for
    numbers that libphonenumber reports invalid for their country (except
    Ofcom's drama ranges).
    """
    text = clean_text(raw)
    if text is None:
        return None
    region_code = _phone_region(region)
    number = _parse_phone(raw, text, region_code)
    if not (phonenumbers.is_valid_number(number) or _is_ofcom_drama_number(number)):
        raise InvalidValueError(_invalid_phone_reason(text, region_code), value=raw)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if keep_extension and number.extension:
        return f"{e164};ext={number.extension}"
    return e164


def _phone_region(region):
    if region is None or region is False or not str(region).strip():
        return DEFAULT_REGION
    try:
        code = country_code(region)
    except InvalidValueError:
        return "ZZ"
    return code if countries.is_alpha2(code) else "ZZ"


def _parse_phone(raw, text, region_code):
    try:
        return phonenumbers.parse(text, region_code)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            reason = (
                "has no valid country code and the record has no known country. "
                "Write it in international format, for example +44 20 7946 0958"
            )
        else:
            reason = "is not a phone number"
        raise InvalidValueError(reason, value=raw) from None


def _is_ofcom_drama_number(number):
    national = str(number.national_number)
    return (
        number.country_code == 44
        and len(national) == 10
        and national.startswith(_OFCOM_DRAMA_PREFIXES)
    )


def _invalid_phone_reason(text, region_code):
    if text.startswith(("+", "00")):
        return "is not a valid phone number"
    return (
        f"is not a valid phone number for country {region_code}. Check the "
        "digits, or write it in international format with its country code, "
        f"for example {_example_phone(region_code)}"
    )


def _example_phone(region_code):
    example = phonenumbers.example_number(region_code)
    if example is None:
        return "+44 20 7946 0958"
    return phonenumbers.format_number(
        example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


# --------------------------------------------------------------------------
# Countries
# --------------------------------------------------------------------------


def country_code(raw):
    """Return the ISO 3166-1 alpha-2 code for a country code or English name.

    Accepts alpha-2 and common alpha-3 codes in any case, ``UK`` and the
    names of the United Kingdom's nations (England, Scotland, Wales,
    Northern Ireland), which all return ``GB``.
    """
    text = clean_text(raw)
    if text is None:
        return None
    upper = text.upper()
    if len(upper) == 2 and upper.isalpha():
        code = countries.CODE_ALIASES.get(upper, upper)
        if countries.is_alpha2(code):
            return code
    if len(upper) == 3 and upper in countries.ALPHA3_TO_ALPHA2:
        return countries.ALPHA3_TO_ALPHA2[upper]
    code = countries.alpha2_for_name(text)
    if code is None:
        raise InvalidValueError(
            "is not a recognised country name or ISO 3166 country code", value=raw
        )
    return code


# --------------------------------------------------------------------------
# VAT numbers
# --------------------------------------------------------------------------

# Countries whose VAT numbers are written with a two-letter prefix: the EU
# member states (Greece as "EL"), the United Kingdom and Northern Ireland's
# "XI" numbers under the Windsor Framework.
_PREFIXED_VAT_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR",
    "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO",
    "SE", "SI", "SK", "GB", "XI",
})

# VAT prefix -> python-stdnum country module name, where they differ.
_STDNUM_COUNTRY = {"EL": "gr", "XI": "gb"}

_VAT_SEPARATORS_RE = re.compile(r"[\s.\-/]")

_VAT_FAILURES = (
    (InvalidChecksum, "fails the check-digit test"),
    (InvalidLength, "has the wrong number of characters"),
    (InvalidFormat, "has an invalid format"),
    (InvalidComponent, "has an invalid component"),
)


def vat(raw, country=DEFAULT_REGION, *, strict=False):
    """Return the VAT number in upper case, without separators, with its prefix.

    A prefix in the value wins. Otherwise ``country`` (alpha-2 code or name,
    default GB) gives the prefix, for the EU member states, GB and XI. UK
    numbers are ``GB`` plus 9 or 12 digits, or ``GBGD``/``GBHA`` plus 3.

    The number is checked with python-stdnum where it has a module for the
    country. A wrong length or format always raises InvalidValueError. A
    failed check digit raises only when ``strict`` is true, because HMRC's
    own sandbox test VRNs fail the check-digit test, and a typo in a stored
    number is better reported by the tax authority than silently dropped
    from the sync.
    """
    text = clean_text(raw)
    if text is None:
        return None
    compact = _VAT_SEPARATORS_RE.sub("", text).upper()
    if not compact.isalnum():
        raise InvalidValueError(
            "contains characters that a VAT number cannot contain", value=raw
        )
    prefix, body = _split_vat_prefix(compact, country)
    module = get_cc_module(_STDNUM_COUNTRY.get(prefix, prefix.lower()), "vat")
    if module is None:
        return compact
    _validate_vat(raw, module, prefix, body, strict)
    number = module.compact(body)
    if prefix in _PREFIXED_VAT_COUNTRIES:
        return prefix + number
    return number


def _split_vat_prefix(compact, country):
    head = compact[:2]
    if head in _PREFIXED_VAT_COUNTRIES and not compact.isdigit():
        return head, compact[2:]
    default = country_code(country) if country else DEFAULT_REGION
    default = default or DEFAULT_REGION
    if default == "GR":
        default = "EL"
    return default, compact


def _validate_vat(raw, module, prefix, body, strict):
    try:
        module.validate(body)
    except InvalidChecksum:
        if strict:
            raise InvalidValueError(
                f"is not a valid {prefix} VAT number: it fails the check-digit test",
                value=raw,
            ) from None
    except ValidationError as error:
        detail = next(
            (text for kind, text in _VAT_FAILURES if isinstance(error, kind)),
            "is not in the expected form",
        )
        raise InvalidValueError(
            f"is not a valid {prefix} VAT number: it {detail}", value=raw
        ) from None


# --------------------------------------------------------------------------
# Companies House numbers
# --------------------------------------------------------------------------

# Two-letter prefixes of Companies House registration numbers. The
# jurisdiction and company-type prefixes follow Doorda's glossary "Company
# Number Prefixes Defined" (2024). The society, royal charter, investment
# company and overseas entity prefixes (IP, SP, NP, RS, RC, SR, NR, IC, SI,
# NV, OE) come from published company data, not from a Companies House
# document. chguide.co.uk/general/company-number.html documents numbers that
# end in letters, such as RS00592C. Numbers without a prefix are England and
# Wales companies, and "R" plus 7 digits are Northern Ireland companies
# registered before partition.
# NOTE: the list may be incomplete. A missing prefix raises InvalidValueError,
# so it shows up as an error and never as a wrong number.
COMPANY_NUMBER_PREFIXES = {
    "AC": "Assurance company, England and Wales",
    "CE": "Charitable incorporated organisation, England and Wales",
    "CS": "Charitable incorporated organisation, Scotland",
    "EN": "European company (Societas Europaea), Northern Ireland",
    "ES": "European company (Societas Europaea), Scotland",
    "FC": "Overseas company",
    "GE": "European Economic Interest Grouping, England and Wales",
    "GN": "European Economic Interest Grouping, Northern Ireland",
    "GS": "European Economic Interest Grouping, Scotland",
    "IC": "Investment company with variable capital, England and Wales",
    "IP": "Industrial and provident society, England and Wales",
    "LP": "Limited partnership, England and Wales",
    "NA": "Assurance company, Northern Ireland",
    "NC": "Limited liability partnership, Northern Ireland",
    "NF": "Overseas company registered in Northern Ireland before October 2009",
    "NI": "Company, Northern Ireland",
    "NL": "Limited partnership, Northern Ireland",
    "NP": "Industrial and provident society or credit union, Northern Ireland",
    "NR": "Royal charter body, Northern Ireland",
    "NV": "Investment company with variable capital, Northern Ireland",
    "NZ": "Unregistered company, Northern Ireland",
    "OC": "Limited liability partnership, England and Wales",
    "OE": "Overseas entity",
    "RC": "Royal charter body, England and Wales",
    "RS": "Registered society",
    "SA": "Assurance company, Scotland",
    "SC": "Company, Scotland",
    "SE": "European company (Societas Europaea), England and Wales",
    "SF": "Overseas company registered in Scotland before October 2009",
    "SG": "Scottish qualifying partnership",
    "SI": "Investment company with variable capital, Scotland",
    "SL": "Limited partnership, Scotland",
    "SO": "Limited liability partnership, Scotland",
    "SP": "Industrial and provident society, Scotland",
    "SR": "Royal charter body, Scotland",
    "SZ": "Unregistered company, Scotland",
    "ZC": "Unregistered company, England and Wales",
}

COMPANY_NUMBER_LENGTH = 8

_PREFIXED_NUMBER_RE = re.compile(r"^([A-Z]{2})(\d{1,6}|\d{3,5}[A-Z]{1,3})$")
_PRE_PARTITION_NI_RE = re.compile(r"^R(\d{1,7})$")
_CANONICAL_COMPANY_NUMBER_RE = re.compile(
    r"^(?:\d{8}|R\d{7}|(?P<prefix>[A-Z]{2})(?=[0-9A-Z]{6}$)\d{3,6}[A-Z]{0,3})$"
)


def company_number(raw, *, pad_digits=False):
    """Return a UK Companies House number in its 8-character form.

    Upper-cases the value and removes spaces. A recognised prefix keeps its
    letters and its numeric part is zero-padded (``SC 19230`` -> ``SC019230``).
    An 8-digit number is returned as it is.

    A number of fewer than 8 digits without a prefix is ambiguous: it may be a
    Companies House number that lost its leading zeros in a spreadsheet, or
    another register's number (a 6-digit charity number, a government
    department's code). Zero-padding the second kind would produce another
    company's number, so such values are returned unchanged and
    :func:`is_companies_house_number` reports False for them, which keeps
    them out of matching. Pass ``pad_digits=True`` only when the source is
    known to hold Companies House numbers.

    Raises InvalidValueError for anything else: unknown letter prefixes, more
    than 8 digits, punctuation.
    """
    text = clean_text(raw)
    if text is None:
        return None
    compact = re.sub(r"\s", "", text).upper()
    if compact.isdigit():
        return _digits_company_number(raw, compact, pad_digits)
    match = _PRE_PARTITION_NI_RE.match(compact)
    if match:
        return "R" + match.group(1).zfill(COMPANY_NUMBER_LENGTH - 1)
    match = _PREFIXED_NUMBER_RE.match(compact)
    if match and match.group(1) in COMPANY_NUMBER_PREFIXES:
        return _prefixed_company_number(raw, match.group(1), match.group(2))
    raise InvalidValueError(
        "is not a Companies House company number (8 digits, or a two-letter "
        "prefix such as SC or OC followed by 6 characters)",
        value=raw,
    )


def is_companies_house_number(value):
    """Return whether a normalised value has a Companies House number's form."""
    if not value:
        return False
    match = _CANONICAL_COMPANY_NUMBER_RE.match(value)
    if not match:
        return False
    prefix = match.group("prefix")
    return prefix is None or prefix in COMPANY_NUMBER_PREFIXES


def _digits_company_number(raw, digits, pad_digits):
    if len(digits) > COMPANY_NUMBER_LENGTH:
        raise InvalidValueError(
            f"is not a Companies House company number: it has {len(digits)} "
            f"digits instead of {COMPANY_NUMBER_LENGTH}",
            value=raw,
        )
    if pad_digits:
        return digits.zfill(COMPANY_NUMBER_LENGTH)
    return digits


def _prefixed_company_number(raw, prefix, tail):
    if tail.isdigit():
        return prefix + tail.zfill(COMPANY_NUMBER_LENGTH - 2)
    if len(prefix + tail) != COMPANY_NUMBER_LENGTH:
        raise InvalidValueError(
            "is not a Companies House company number: a number with suffix "
            "letters must have 8 characters",
            value=raw,
        )
    return prefix + tail


# --------------------------------------------------------------------------
# Website domains
# --------------------------------------------------------------------------


def website_domain(raw):
    """Return the host name of a website URL, for comparing companies.

    Drops the scheme, credentials, port, path and a leading ``www.``, and
    lower-cases the rest. Internationalised names are checked with IDNA
    (UTS 46) and returned in Unicode form, so ``xn--bcher-kva.de`` and
    ``Bücher.de`` both give ``bücher.de``.
    """
    text = clean_text(raw)
    if text is None:
        return None
    if "://" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        host = None
    if not host or " " in host:
        raise InvalidValueError("is not a website address", value=raw)
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[len("www."):]
    if _is_ip_address(host):
        raise InvalidValueError("is an IP address, not a website domain", value=raw)
    return _idna_round_trip(raw, host)


def _is_ip_address(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _idna_round_trip(raw, host):
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
        unicode_host = idna.decode(ascii_host)
    except idna.IDNAError:
        raise InvalidValueError(
            "is not a valid website domain name", value=raw
        ) from None
    if "." not in unicode_host:
        raise InvalidValueError(
            "is not a website domain: it has no dot", value=raw
        )
    return unicode_host


# --------------------------------------------------------------------------
# Name comparison keys
# --------------------------------------------------------------------------

# Words (after punctuation is removed) that mean the same legal form. Welsh
# forms are those Companies House accepts in names (cyf, ccc, pac).
_LEGAL_FORM_WORDS = {
    "limited": "ltd",
    "ltd": "ltd",
    "cyfyngedig": "ltd",
    "cyf": "ltd",
    "plc": "plc",
    "ccc": "plc",
    "llp": "llp",
    "pac": "llp",
    "cic": "cic",
    "company": "co",
    "co": "co",
    "corporation": "corp",
    "corp": "corp",
    "incorporated": "inc",
    "inc": "inc",
}

# Phrases replaced before single words, longest first.
_LEGAL_FORM_PHRASES = (
    (("community", "interest", "company"), "cic"),
    (("public", "limited", "company"), "plc"),
    (("limited", "liability", "partnership"), "llp"),
)

# Dots and apostrophes between two letters join them ("p.l.c" -> "plc",
# "james's" -> "jamess") instead of splitting a word in two.
_JOINING_PUNCTUATION_RE = re.compile(r"(?<=\w)[.'’](?=\w)")
_OTHER_PUNCTUATION_RE = re.compile(r"[^\w\s]|_")


def name_key(raw):
    """Return a key for comparing company or person names; never store it.

    NFKC-normalised and case-folded, with accents kept. Punctuation becomes
    spaces, ``&`` becomes ``and``, legal forms are made equal (Ltd and
    Limited, PLC and P.L.C., LLP) and a leading "the" is dropped.
    """
    text = clean_text(raw)
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("&", " and ")
    text = _JOINING_PUNCTUATION_RE.sub("", text)
    text = _OTHER_PUNCTUATION_RE.sub(" ", text)
    words = _replace_legal_phrases(text.split())
    words = [_LEGAL_FORM_WORDS.get(word, word) for word in words]
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return " ".join(words) or None


def _replace_legal_phrases(words):
    result = []
    index = 0
    while index < len(words):
        for phrase, replacement in _LEGAL_FORM_PHRASES:
            if tuple(words[index:index + len(phrase)]) == phrase:
                result.append(replacement)
                index += len(phrase)
                break
        else:
            result.append(words[index])
            index += 1
    return result
