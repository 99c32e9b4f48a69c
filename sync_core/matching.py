"""Identity matching: find the Odoo partner a CRM record already is.

Before the sync creates a partner for a CRM record, :func:`match` looks for
an existing one. The rules run in this order, and the first rule with any
hit decides:

1. binding: a candidate already linked to this CRM record;
2. VAT number;
3. Companies House number (only numbers in Companies House form, so a
   guessed or foreign number never matches);
4. e-mail address for contacts, or website domain for companies when the
   caller enables it (shared domains such as a group's make it optional);
5. phone number (E.164, any of phone and mobile) together with a close name.

One hit is a match. Several hits are ambiguous and returned together,
because merging partners is a person's decision. A hit that is already
linked to another CRM record is ambiguous too: it points to a duplicate in
the CRM, and linking a second record to it would hide that.

The Odoo layer fetches candidates with indexed queries on the keys from
:func:`lookup_keys` and passes them in as plain dicts with the keys id,
name, is_company, vat, company_registry, email, website, phone, mobile,
crm_id (the CRM id the partner is linked to, if any) and, optionally,
country_code. Matching normalises both sides itself, so candidates may carry
raw values as stored.
"""

import dataclasses
import difflib

from . import normalise
from .errors import InvalidValueError

MATCHED = "matched"
AMBIGUOUS = "ambiguous"
NONE = "none"

RULE_BINDING = "binding"
RULE_VAT = "vat"
RULE_COMPANY_REGISTRY = "company_registry"
RULE_EMAIL = "email"
RULE_WEBSITE = "website"
RULE_PHONE_NAME = "phone_name"

# Minimum difflib similarity ratio (0 to 1) of two name keys for the phone
# rule. 0.85 accepts one-letter typos in short names ("Smith Ltd" and "Smyth
# Ltd" score 0.89) and rejects different names that share a legal form
# ("ABC Ltd" and "XYZ Ltd" score 0.57).
NAME_SIMILARITY_THRESHOLD = 0.85

_RULE_LABELS = {
    RULE_VAT: "VAT number",
    RULE_COMPANY_REGISTRY: "company registration number",
    RULE_EMAIL: "email address",
    RULE_WEBSITE: "website domain",
    RULE_PHONE_NAME: "phone number and name",
}


@dataclasses.dataclass(frozen=True)
class MatchResult:
    """Outcome of matching one CRM record against Odoo candidates.

    ``status`` is MATCHED (``record_ids`` has one id), AMBIGUOUS (several
    ids, or one linked to another CRM record) or NONE. ``rule`` names the
    rule that decided. ``reason`` names ids, never personal values, so it is
    safe to log.
    """

    status: str
    record_ids: tuple
    rule: str | None
    reason: str


@dataclasses.dataclass(frozen=True)
class LookupKeys:
    """Normalised values to search Odoo for candidates of one CRM record.

    ``vats`` also contains the number without its country prefix, because
    Odoo users often type it that way.
    """

    crm_id: str | None
    is_company: bool | None
    name_key: str | None
    vats: tuple = ()
    company_registries: tuple = ()
    emails: tuple = ()
    website_domains: tuple = ()
    phones: tuple = ()

    def as_dict(self):
        """Return the keys as a plain dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class _Keys:
    # Normalised identity values of one record, incoming or candidate.
    crm_id: str | None
    name_key: str | None
    vat: str | None
    company_registry: str | None
    email: str | None
    domain: str | None
    phones: frozenset


def lookup_keys(record, *, match_website=False):
    """Return the LookupKeys the Odoo layer should query for ``record``."""
    keys = _keys_of(record)
    is_company = record.get("is_company")
    vats = ()
    if keys.vat:
        vats = (keys.vat, keys.vat[2:]) if keys.vat[:2].isalpha() else (keys.vat,)
    return LookupKeys(
        crm_id=keys.crm_id,
        is_company=is_company,
        name_key=keys.name_key,
        vats=vats,
        company_registries=(keys.company_registry,) if keys.company_registry else (),
        emails=(keys.email,) if keys.email and not is_company else (),
        website_domains=(
            (keys.domain,)
            if keys.domain and match_website and is_company is not False
            else ()
        ),
        phones=tuple(sorted(keys.phones)),
    )


def match(record, candidates, *, match_website=False):
    """Return the MatchResult of a normalised CRM record against candidates.

    ``record`` has the same keys as a candidate, with ``crm_id`` the CRM
    record's own id. Candidates of the other kind (company against contact)
    are ignored when both sides set is_company.
    """
    incoming = _keys_of(record)
    pool = [
        (candidate, _keys_of(candidate))
        for candidate in _unique_by_id(candidates)
        if _same_kind(record, candidate)
    ]

    bound = [
        candidate
        for candidate, keys in pool
        if incoming.crm_id and keys.crm_id == incoming.crm_id
    ]
    if bound:
        return _binding_result(bound, incoming.crm_id)

    for rule, applies in _cascade(record, incoming, match_website):
        hits = [(candidate, keys) for candidate, keys in pool if applies(keys)]
        if hits:
            return _rule_result(rule, hits, incoming.crm_id)
    return MatchResult(NONE, (), None, "No Odoo partner matches any identity rule.")


def names_close(left_key, right_key, threshold=NAME_SIMILARITY_THRESHOLD):
    """Return whether two name keys are equal or similar enough.

    Word order is ignored as well ("Anders Maria" and "Maria Anders").
    """
    if not left_key or not right_key:
        return False
    if left_key == right_key:
        return True
    ratio = difflib.SequenceMatcher(None, left_key, right_key).ratio()
    sorted_left = " ".join(sorted(left_key.split()))
    sorted_right = " ".join(sorted(right_key.split()))
    sorted_ratio = difflib.SequenceMatcher(None, sorted_left, sorted_right).ratio()
    return max(ratio, sorted_ratio) >= threshold


def _cascade(record, incoming, match_website):
    is_company = record.get("is_company")
    rules = []
    if incoming.vat:
        rules.append((RULE_VAT, lambda keys: keys.vat == incoming.vat))
    if incoming.company_registry:
        rules.append(
            (
                RULE_COMPANY_REGISTRY,
                lambda keys: keys.company_registry == incoming.company_registry,
            )
        )
    if incoming.email and not is_company:
        rules.append((RULE_EMAIL, lambda keys: keys.email == incoming.email))
    if incoming.domain and match_website and is_company is not False:
        rules.append((RULE_WEBSITE, lambda keys: keys.domain == incoming.domain))
    if incoming.phones and incoming.name_key:
        rules.append(
            (
                RULE_PHONE_NAME,
                lambda keys: (
                    bool(keys.phones & incoming.phones)
                    and names_close(keys.name_key, incoming.name_key)
                ),
            )
        )
    return rules


def _binding_result(bound, crm_id):
    ids = _sorted_ids(candidate for candidate in bound)
    if len(ids) == 1:
        return MatchResult(
            MATCHED,
            ids,
            RULE_BINDING,
            f"Odoo partner {ids[0]} is linked to CRM record {crm_id}.",
        )
    return MatchResult(
        AMBIGUOUS,
        ids,
        RULE_BINDING,
        f"Odoo partners {_id_list(ids)} are all linked to CRM record {crm_id}. "
        "Unlink all but one.",
    )


def _rule_result(rule, hits, crm_id):
    label = _RULE_LABELS[rule]
    ids = _sorted_ids(candidate for candidate, _keys in hits)
    linked_elsewhere = [
        keys.crm_id
        for _candidate, keys in hits
        if keys.crm_id and keys.crm_id != crm_id
    ]
    if linked_elsewhere:
        return MatchResult(
            AMBIGUOUS,
            ids,
            rule,
            f"The {label} matches Odoo partner(s) {_id_list(ids)}, already linked "
            f"to CRM record(s) {_id_list(sorted(set(linked_elsewhere)))}. The CRM "
            "may contain a duplicate, so merge the CRM records or correct the value.",
        )
    if len(ids) == 1:
        return MatchResult(
            MATCHED, ids, rule, f"The {label} matches Odoo partner {ids[0]}."
        )
    return MatchResult(
        AMBIGUOUS,
        ids,
        rule,
        f"The {label} matches {len(ids)} Odoo partners ({_id_list(ids)}). Merge them "
        "or correct the value, then sync again.",
    )


def _keys_of(record):
    region = _tolerant(normalise.country_code, record.get("country_code"))
    vat = _tolerant(
        normalise.vat, record.get("vat"), region or normalise.DEFAULT_REGION
    )
    registry = _tolerant(normalise.company_number, record.get("company_registry"))
    if not normalise.is_companies_house_number(registry):
        registry = None
    phones = frozenset(
        phone
        for phone in (
            _tolerant(
                normalise.phone_e164, record.get(field), region, keep_extension=False
            )
            for field in ("phone", "mobile")
        )
        if phone
    )
    crm_id = record.get("crm_id")
    return _Keys(
        crm_id=str(crm_id) if crm_id not in (None, False, "") else None,
        name_key=_tolerant(normalise.name_key, record.get("name")),
        vat=vat,
        company_registry=registry,
        email=_tolerant(normalise.email, record.get("email")),
        domain=_tolerant(normalise.website_domain, record.get("website")),
        phones=phones,
    )


def _tolerant(function, value, *args, **kwargs):
    # A stored value that cannot be normalised cannot prove an identity, so
    # it is left out of matching instead of failing the whole record.
    try:
        return function(value, *args, **kwargs)
    except InvalidValueError:
        return None


def _unique_by_id(candidates):
    # A partner found by two lookup keys may be passed twice. It is still one
    # partner, so it must not make the result ambiguous.
    unique = {}
    for candidate in candidates:
        unique.setdefault(candidate["id"], candidate)
    return unique.values()


def _same_kind(record, candidate):
    expected = record.get("is_company")
    actual = candidate.get("is_company")
    if expected is None or actual is None:
        return True
    return bool(expected) == bool(actual)


def _sorted_ids(candidates):
    return tuple(sorted(candidate["id"] for candidate in candidates))


def _id_list(ids):
    return ", ".join(str(record_id) for record_id in ids)
