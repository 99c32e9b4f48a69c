"""Country tables behind :func:`sync_core.normalise.country_code`.

ISO 3166-1 alpha-2 codes are the regions that the ``phonenumbers`` library
supports, so the two stay consistent. English names come from that library's
geocoder data, plus the aliases below for the spellings that CRM exports and
spreadsheets use (UK, Great Britain, England, USA, Holland ...).

NOTE: the alpha-3 table covers about a hundred common countries, not all 249.
An alpha-3 code that is missing here is rejected with an InvalidValueError,
never guessed.
"""

import functools
import re
import unicodedata

import phonenumbers
from phonenumbers import geocoder

# Codes that are not ISO 3166-1 alpha-2 but appear in real data. "UK" is
# reserved by ISO for the United Kingdom, and the EU writes Greece as "EL".
CODE_ALIASES = {
    "UK": "GB",
    "EL": "GR",
}

# Keys are lookup keys, as built by name_lookup_key(): lower case, accents
# and punctuation removed, single spaces.
NAME_ALIASES = {
    "uk": "GB",
    "united kingdom": "GB",
    "united kingdom of great britain and northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "cymru": "GB",
    "northern ireland": "GB",
    "england and wales": "GB",
    "us": "US",
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
    "america": "US",
    "holland": "NL",
    "the netherlands": "NL",
    "republic of ireland": "IE",
    "eire": "IE",
    "deutschland": "DE",
    "osterreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "espana": "ES",
    "italia": "IT",
    "brasil": "BR",
    "mexico": "MX",
    "czechia": "CZ",
    "russian federation": "RU",
    "korea": "KR",
    "republic of korea": "KR",
    "uae": "AE",
    "north macedonia": "MK",
    "eswatini": "SZ",
    "ivory coast": "CI",
    "cote divoire": "CI",
    "vatican city": "VA",
    "turkiye": "TR",
    "viet nam": "VN",
}

ALPHA3_TO_ALPHA2 = {
    "ARE": "AE", "ARG": "AR", "AUS": "AU", "AUT": "AT", "BEL": "BE",
    "BGD": "BD", "BGR": "BG", "BHR": "BH", "BRA": "BR", "CAN": "CA",
    "CHE": "CH", "CHL": "CL", "CHN": "CN", "COL": "CO", "CYP": "CY",
    "CZE": "CZ", "DEU": "DE", "DNK": "DK", "DZA": "DZ", "ECU": "EC",
    "EGY": "EG", "ESP": "ES", "EST": "EE", "FIN": "FI", "FRA": "FR",
    "GBR": "GB", "GGY": "GG", "GHA": "GH", "GIB": "GI", "GRC": "GR",
    "HKG": "HK", "HRV": "HR", "HUN": "HU", "IDN": "ID", "IMN": "IM",
    "IND": "IN", "IRL": "IE", "ISL": "IS", "ISR": "IL", "ITA": "IT",
    "JAM": "JM", "JEY": "JE", "JOR": "JO", "JPN": "JP", "KEN": "KE",
    "KOR": "KR", "KWT": "KW", "LBN": "LB", "LIE": "LI", "LKA": "LK",
    "LTU": "LT", "LUX": "LU", "LVA": "LV", "MAR": "MA", "MCO": "MC",
    "MEX": "MX", "MLT": "MT", "MUS": "MU", "MYS": "MY", "NGA": "NG",
    "NLD": "NL", "NOR": "NO", "NZL": "NZ", "OMN": "OM", "PAK": "PK",
    "PER": "PE", "PHL": "PH", "POL": "PL", "PRT": "PT", "QAT": "QA",
    "ROU": "RO", "RUS": "RU", "SAU": "SA", "SGP": "SG", "SRB": "RS",
    "SVK": "SK", "SVN": "SI", "SWE": "SE", "THA": "TH", "TUN": "TN",
    "TUR": "TR", "TWN": "TW", "UKR": "UA", "URY": "UY", "USA": "US",
    "VEN": "VE", "VNM": "VN", "ZAF": "ZA", "ZWE": "ZW",
}

_PUNCTUATION_RE = re.compile(r"[^\w\s]")
_SPACES_RE = re.compile(r"\s+")


def name_lookup_key(text):
    """Return the key used to look up a country name: lower case, no accents."""
    decomposed = unicodedata.normalize("NFKD", text)
    without_accents = "".join(
        char for char in decomposed if not unicodedata.combining(char)
    )
    key = _PUNCTUATION_RE.sub("", without_accents.casefold())
    return _SPACES_RE.sub(" ", key).strip()


def is_alpha2(code):
    """Return whether ``code`` is an upper-case alpha-2 code phonenumbers supports."""
    return code in phonenumbers.SUPPORTED_REGIONS


def alpha2_for_name(name):
    """Return the alpha-2 code for an English country name, or None."""
    key = name_lookup_key(name)
    if key in NAME_ALIASES:
        return NAME_ALIASES[key]
    return _names_from_phonenumbers().get(key)


@functools.cache
def _names_from_phonenumbers():
    # The geocoder names a region only through a number, so ask it for the
    # name of each region's example number. Built once, on first use.
    names = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        name = geocoder.country_name_for_number(example, "en")
        if name:
            names[name_lookup_key(name)] = region
    return names
